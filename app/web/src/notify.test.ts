import { describe, expect, it } from 'vitest';
import type { Message } from './api/client';
import { notification, notifies } from './notify';

const message = (user: string, mentions?: string[], extra: Partial<Message> = {}): Message => ({
  chat_id: 'c',
  ulid: '01A',
  client_uuid: null,
  timestamp: 't',
  user_id: user,
  content: 'lunch?',
  author_metadata: { username: user === 'bob' ? 'Bob' : 'Ann' },
  ...(mentions ? { mentions } : {}),
  ...extra,
});

describe('notifications', () => {
  it('all: every message from someone else; mentions: those that mention me; muted: none', () => {
    expect(notifies(message('bob'), 'me', 'all')).toBe(true);
    expect(notifies(message('bob'), 'me', 'mentions')).toBe(false);
    expect(notifies(message('bob', ['me']), 'me', 'mentions')).toBe(true);
    expect(notifies(message('bob', ['cid']), 'me', 'mentions')).toBe(false);
    expect(notifies(message('bob', ['me']), 'me', 'muted')).toBe(false);
    expect(notifies(message('me', ['me']), 'me', 'all')).toBe(false);
    expect(notifies(message('bob', ['me'], { deleted: true }), 'me', 'all')).toBe(false);
  });

  it('say who wrote where, and when I was mentioned', () => {
    expect(notification(message('bob'), 'Standup', 'me')).toEqual({ title: 'Bob in Standup', body: 'lunch?' });
    expect(notification(message('bob', ['me']), 'Standup', 'me').title).toBe('Bob mentioned you in Standup');
  });
});
