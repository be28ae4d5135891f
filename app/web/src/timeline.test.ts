import { describe, expect, it } from 'vitest';
import type { Message } from './api/client';
import { dayLabel, timeline } from './timeline';

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
    expect(rows.map((r) => (r.kind === 'day' ? `day:${r.label}` : `${r.key}${r.first ? '*' : ''}`))).toEqual([
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
});
