import { describe, expect, it } from 'vitest';
import type { Message } from './api/client';
import type { ChatItem, MessageChange } from './api/contract';
import { arrived, changed, counted, listed, MAX_UNREAD, missed, railCounts, shown } from './unread';

const message = (chat: string, ulid: string, user: string, mentions?: string[]): Message => ({
  chat_id: chat,
  ulid,
  client_uuid: null,
  timestamp: '2026-12-01T10:00:00Z',
  user_id: user,
  content: ulid,
  author_metadata: { username: user },
  ...(mentions ? { mentions } : {}),
});

const item = (chat: string, last_read: string | null, unread_count: number, mention_count = 0): ChatItem => ({
  chat_id: chat,
  meta: { title: chat, description: null },
  last_read,
  unread_count,
  mention_count,
  notifications: 'mentions',
});

const change = (type: 'message_deleted' | 'reaction_added' | 'message_edited', ulid: string, mentions?: string[]) =>
  ({ type, emoji: '👍', content: 'x', mentions, chat_id: 'a', ulid, change_id: '01Z', client_uuid: null, user_id: 'bob', timestamp: 't' }) as MessageChange;

describe('unread counts', () => {
  it('start from the server’s counts and add other people’s live messages to chats that are not open', () => {
    let unread = listed({}, [item('a', '01A', 2, 1), item('b', null, 0)]);
    expect(shown(unread.a)).toEqual({ unread: 2, mentions: 1 });
    unread = arrived(unread, message('a', '01B', 'bob', ['me']), 'me', 'b');
    unread = arrived(unread, message('a', '01C', 'me'), 'me', 'b');
    unread = arrived(unread, message('b', '01D', 'bob'), 'me', 'b');
    unread = arrived(unread, message('a', '01E', 'bob', ['cid']), 'me', 'b');
    expect(shown(unread.a)).toEqual({ unread: 4, mentions: 2 });
    expect(shown(unread.b)).toEqual({ unread: 0, mentions: 0 });
  });

  it('count a message delivered twice once, in any order, and nothing at or before the read position', () => {
    let unread = listed({}, [item('a', '01B', 0)]);
    for (const ulid of ['01D', '01C', '01D', '01C', '01A', '01B']) unread = arrived(unread, message('a', ulid, 'bob'), 'me', undefined);
    expect(shown(unread.a).unread).toBe(2);
  });

  it('take a newer position’s counts, and ignore a late answer about an older one', () => {
    let unread = listed({}, [item('a', '01A', 0)]);
    unread = arrived(unread, message('a', '01B', 'bob'), 'me', undefined);
    unread = arrived(unread, message('a', '01C', 'bob'), 'me', undefined);
    // Read on another device up to 01B: one left, the one after it.
    unread = counted(unread, 'a', { last_read: '01B', unread_count: 1, mention_count: 0 });
    expect(shown(unread.a).unread).toBe(1);
    unread = counted(unread, 'a', { last_read: '01C', unread_count: 0, mention_count: 0 });
    expect(shown(unread.a).unread).toBe(0);
    expect(counted(unread, 'a', { last_read: '01B', unread_count: 1, mention_count: 0 })).toBe(unread);
    expect(counted(unread, 'a', { last_read: null, unread_count: 5, mention_count: 0 })).toBe(unread);
  });

  // Seen failing with `shown` adding only the fresh ones to the server's count (no floor).
  it('never fall below the live messages known after the position (the sink had not stored them when the server counted)', () => {
    let unread = listed({}, [item('a', '01A', 0)]);
    unread = arrived(unread, message('a', '01B', 'bob', ['me']), 'me', undefined);
    unread = arrived(unread, message('a', '01C', 'bob'), 'me', undefined);
    // The server counted before the sink stored 01C: it says 1.
    unread = counted(unread, 'a', { last_read: '01A', unread_count: 1, mention_count: 1 });
    expect(shown(unread.a)).toEqual({ unread: 2, mentions: 1 });
    unread = arrived(unread, message('a', '01D', 'bob'), 'me', undefined);
    expect(shown(unread.a).unread).toBe(3);
  });

  it('keep a followed chat’s live count when the list is fetched again with the same position', () => {
    let unread = listed({}, [item('a', '01A', 1)]);
    unread = arrived(unread, message('a', '01B', 'bob'), 'me', undefined);
    const again = listed(unread, [item('a', '01A', 1), item('c', null, 3)]);
    expect(shown(again.a).unread).toBe(2);
    expect(shown(again.c).unread).toBe(3);
    expect(listed(again, [item('a', '01A', 1), item('c', null, 3)])).toBe(again);
    expect(Object.keys(listed(again, [item('c', null, 3)]))).toEqual(['c']);
    // The position moved (read elsewhere while this list was fetched): the server's counts.
    expect(shown(listed(again, [item('a', '01B', 0)]).a).unread).toBe(0);
  });

  it('show at most the server’s cap', () => {
    let unread = listed({}, [item('a', '01A', MAX_UNREAD)]);
    unread = arrived(unread, message('a', '01B', 'bob'), 'me', undefined);
    expect(shown(unread.a).unread).toBe(MAX_UNREAD);
  });

  it('never count a change; a deleted message stops counting; an edit can add or remove a mention of me', () => {
    let unread = listed({}, [item('a', '01', 0)]);
    unread = arrived(unread, message('a', '01A', 'bob'), 'me', undefined);
    unread = arrived(unread, message('a', '01B', 'bob'), 'me', undefined);
    unread = arrived(unread, { ...message('a', '01C', 'bob'), deleted: true, content: '' }, 'me', undefined);
    expect(changed(unread, change('reaction_added', '01A'), 'me')).toBe(unread);
    unread = changed(unread, change('message_deleted', '01A'), 'me');
    expect(shown(unread.a)).toEqual({ unread: 1, mentions: 0 });
    unread = changed(unread, change('message_edited', '01B', ['me']), 'me');
    expect(shown(unread.a)).toEqual({ unread: 1, mentions: 1 });
    unread = changed(unread, change('message_edited', '01B', []), 'me');
    expect(shown(unread.a)).toEqual({ unread: 1, mentions: 0 });
  });

  it('a deleted message the server counted leaves its counts; one never seen makes the count stale until the next list', () => {
    let unread = listed({}, [item('a', '01A', 1, 1)]);
    unread = arrived(unread, message('a', '01B', 'bob', ['me']), 'me', undefined);
    unread = counted(unread, 'a', { last_read: '01A', unread_count: 1, mention_count: 1 });
    unread = changed(unread, change('message_deleted', '01B'), 'me');
    expect(shown(unread.a)).toEqual({ unread: 0, mentions: 0 });

    unread = listed({}, [item('a', '01A', 2)]);
    expect(changed(unread, change('message_deleted', '00Z'), 'me')).toBe(unread);
    unread = changed(unread, change('message_deleted', '01C'), 'me');
    expect(unread.a?.stale).toBe(true);
    expect(shown(listed(unread, [item('a', '01A', 1)]).a).unread).toBe(1);
  });

  it('missed messages (a recovery that failed) take the next list’s counts', () => {
    let unread = listed({}, [item('a', '01A', 1)]);
    expect(missed(unread, 'zzz')).toBe(unread);
    unread = missed(unread, 'a');
    expect(shown(listed(unread, [item('a', '01A', 4)]).a).unread).toBe(4);
  });

  it('name a chat with its counts', () => {
    const name = (counts: { unread: number; mentions: number }, muted: boolean) => `Standup${railCounts(counts, muted)}`;
    expect(name({ unread: 0, mentions: 0 }, false)).toBe('Standup');
    expect(name({ unread: 1, mentions: 0 }, false)).toBe('Standup, 1 unread message');
    expect(name({ unread: 2, mentions: 1 }, false)).toBe('Standup, 2 unread messages, 1 mention');
    expect(name({ unread: 100, mentions: 2 }, true)).toBe('Standup, 99+ unread messages, 2 mentions, muted');
  });
});
