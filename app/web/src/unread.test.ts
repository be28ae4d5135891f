import { describe, expect, it } from 'vitest';
import type { Message } from './api/client';
import type { MessageChange } from './api/contract';
import { arrived, changed, listed, MAX_UNREAD, read, type Unread } from './unread';

const message = (chat: string, ulid: string, user: string): Message => ({
  chat_id: chat,
  ulid,
  client_uuid: null,
  timestamp: '2026-12-01T10:00:00Z',
  user_id: user,
  content: ulid,
  author_metadata: { username: user },
});

describe('unread counts', () => {
  it('count other people’s messages to chats that are not open', () => {
    let unread: Unread = {};
    unread = arrived(unread, message('a', '01A', 'bob'), 'me', 'b');
    unread = arrived(unread, message('a', '01B', 'bob'), 'me', 'b');
    unread = arrived(unread, message('a', '01C', 'me'), 'me', 'b');
    unread = arrived(unread, message('b', '01D', 'bob'), 'me', 'b');
    expect(unread).toEqual({ a: { unread: ['01A', '01B'], read: '' } });
  });

  it('count a message delivered twice once, in any order', () => {
    let unread: Unread = {};
    for (const ulid of ['01B', '01A', '01B', '01A']) unread = arrived(unread, message('a', ulid, 'bob'), 'me', undefined);
    expect(unread.a).toEqual({ unread: ['01A', '01B'], read: '' });
  });

  it('do not count what was read, and keep at most the newest hundred', () => {
    let unread: Unread = { a: { unread: ['01B', '01C'], read: '01A' } };
    unread = read(unread, 'a');
    expect(unread.a).toEqual({ unread: [], read: '01C' });
    unread = arrived(unread, message('a', '01B', 'bob'), 'me', undefined);
    expect(unread.a?.unread).toEqual([]);
    for (let i = 100; i < 100 + MAX_UNREAD + 5; i++) unread = arrived(unread, message('a', `02${i}`, 'bob'), 'me', undefined);
    expect(unread.a?.unread).toHaveLength(MAX_UNREAD);
    expect(unread.a?.unread[0]).toBe('02105');
  });

  it('follow the chat list', () => {
    const unread: Unread = { a: { unread: ['01C'], read: '' }, b: { unread: [], read: '01D' } };
    expect(read(unread, 'zzz')).toBe(unread);
    expect(listed(unread, ['b', 'c'])).toEqual({ b: { unread: [], read: '01D' }, c: { unread: [], read: '' } });
    expect(listed(unread, ['a', 'b'])).toBe(unread);
  });

  it('never count a change; a deleted message stops counting, and a deleted one in a history page never counts', () => {
    const change = (type: 'message_deleted' | 'reaction_added', ulid: string) =>
      ({ type, emoji: '👍', chat_id: 'a', ulid, change_id: '01Z', client_uuid: null, user_id: 'bob', timestamp: 't' }) as MessageChange;
    let unread: Unread = {};
    unread = arrived(unread, message('a', '01A', 'bob'), 'me', undefined);
    unread = arrived(unread, message('a', '01B', 'bob'), 'me', undefined);
    unread = arrived(unread, { ...message('a', '01C', 'bob'), deleted: true, content: '' }, 'me', undefined);
    expect(changed(unread, change('reaction_added', '01A'))).toBe(unread);
    unread = changed(unread, change('message_deleted', '01A'));
    expect(unread.a).toEqual({ unread: ['01B'], read: '' });
    expect(changed(unread, change('message_deleted', '01X'))).toBe(unread);
  });
});
