import { describe, expect, it } from 'vitest';
import type { Message } from './api/client';
import { dayLabel, firstUnread, timeline } from './timeline';

const message = (ulid: string, user: string, timestamp: string): Message => ({
  chat_id: 'c',
  ulid,
  client_uuid: null,
  timestamp,
  user_id: user,
  content: ulid,
  author_metadata: { username: user },
});

describe('timeline', () => {
  it('groups consecutive messages of one author and separates days', () => {
    const rows = timeline(
      [
        message('a', 'ann', '2026-11-30T10:00:00Z'),
        message('b', 'ann', '2026-11-30T10:03:00Z'),
        message('c', 'bob', '2026-11-30T10:04:00Z'),
        message('d', 'bob', '2026-11-30T10:20:00Z'),
        message('e', 'bob', '2026-12-01T09:00:00Z'),
      ],
      new Date('2026-12-01T12:00:00Z'),
    );
    expect(rows.map((r) => (r.kind === 'day' ? `day:${r.label}` : r.kind === 'new' ? 'new' : `${r.key}${r.first ? '*' : ''}`))).toEqual([
      'day:Yesterday',
      'a*',
      'b',
      'c*',
      'd*',
      'day:Today',
      'e*',
    ]);
  });

  it('names older days by date', () => {
    expect(dayLabel(new Date(2026, 10, 20), new Date(2026, 11, 1))).toContain('2026');
  });

  it('puts the new-messages divider before the first unread message, which starts a group', () => {
    const messages = [
      message('01A', 'ann', '2026-11-30T10:00:00Z'),
      message('01B', 'bob', '2026-11-30T10:01:00Z'),
      message('01C', 'me', '2026-11-30T10:02:00Z'),
      message('01D', 'bob', '2026-11-30T10:03:00Z'),
      message('01E', 'bob', '2026-11-30T10:03:30Z'),
    ];
    expect(firstUnread(messages, '01B', 2, 'me')).toBe('01D');
    expect(firstUnread(messages, '01E', 0, 'me')).toBeUndefined();
    // No position yet: the last `unread_count` messages from others.
    expect(firstUnread(messages, null, 2, 'me')).toBe('01D');
    expect(firstUnread(messages, null, 0, 'me')).toBeUndefined();
    expect(firstUnread(messages, null, 9, 'me')).toBe('01A');
    const rows = timeline(messages, new Date('2026-11-30T12:00:00Z'), '01E');
    const at = rows.findIndex((row) => row.kind === 'new');
    expect(rows[at + 1]).toMatchObject({ kind: 'message', key: '01E', first: true });
    expect(rows.filter((row) => row.kind === 'new')).toHaveLength(1);
  });
});
