// Unread and mention counts per chat, from the server's read positions.
// The server counts (the chat list, the answer to a read mark, CHAT_READ on
// the personal channel) what waits after my read position; messages that
// arrive live afterwards count on top, each once (by ULID, so a redelivery
// after a reconnect does not count twice). Changes to messages never count;
// a deleted message stops counting. The server's count only holds stored
// messages (the sink writes them a moment after they are delivered live), so
// a count is never below the live messages known to be after the position.
import { useCallback, useState } from 'react';
import type { Message } from './api/client';
import type { ChatItem, MessageChange } from './api/contract';

/** The server counts at most this many (100 means 100 or more); shown as 99+ past 99. */
export const MAX_UNREAD = 100;

/** What the server said waits after a read position. */
export interface Counts {
  last_read?: string | null;
  unread_count: number;
  mention_count: number;
}

/** A message from someone else after the read position, seen live. */
interface Seen {
  ulid: string;
  mentionsMe: boolean;
  /** Arrived after the server's counts: not in them. */
  fresh: boolean;
}

export interface ChatUnread {
  /** The server's counts and the position they start after. */
  base: Counts;
  seen: Seen[];
  /** A change the counts cannot follow (a deletion or edit of a message not
   *  seen live): take the server's counts at the next chat list. */
  stale?: boolean;
}
export type Unread = Record<string, ChatUnread>;

const after = (ulid: string, position: string | null | undefined) => !position || ulid > position;

/** How many unread messages and mentions `chat` shows. */
export function shown(chat: ChatUnread | undefined): { unread: number; mentions: number } {
  if (!chat) return { unread: 0, mentions: 0 };
  const fresh = chat.seen.filter((s) => s.fresh);
  const unread = Math.max(chat.base.unread_count + fresh.length, chat.seen.length);
  const mentions = Math.max(
    chat.base.mention_count + fresh.filter((s) => s.mentionsMe).length,
    chat.seen.filter((s) => s.mentionsMe).length,
  );
  return { unread: Math.min(unread, MAX_UNREAD), mentions: Math.min(mentions, unread, MAX_UNREAD) };
}

/** `unread` after the server counted `chatId` from `counts.last_read`. A
 *  position older than the one held is a late answer: ignored. */
export function counted(unread: Unread, chatId: string, counts: Counts): Unread {
  const chat = unread[chatId];
  const position = counts.last_read ?? null;
  if (chat?.base.last_read && (!position || position < chat.base.last_read)) return unread;
  const seen = (chat?.seen ?? []).filter((s) => after(s.ulid, position)).map((s) => ({ ...s, fresh: false }));
  const base = { last_read: position, unread_count: counts.unread_count, mention_count: counts.mention_count };
  return { ...unread, [chatId]: { base, seen } };
}

/** `unread` for exactly the chats listed: left and deleted chats drop out,
 *  new ones take the server's counts. A chat already followed keeps its live
 *  count unless its position moved or its count went stale (so a list
 *  fetched before the sink stored a message does not lose it). */
export function listed(unread: Unread, chats: ChatItem[]): Unread {
  const next: Unread = {};
  for (const chat of chats) {
    const held = unread[chat.chat_id];
    const moved = (chat.last_read ?? null) !== (held?.base.last_read ?? null);
    const keep = held && !held.stale && !moved;
    const fresh = held ? { [chat.chat_id]: { ...held, stale: false } } : {};
    next[chat.chat_id] = keep ? held : counted(fresh, chat.chat_id, chat)[chat.chat_id]!;
  }
  const same = chats.length === Object.keys(unread).length && chats.every((c) => next[c.chat_id] === unread[c.chat_id]);
  return same ? unread : next;
}

/** `unread` after `message` arrived live while `open` was the chat on screen. */
export function arrived(unread: Unread, message: Message, me: string, open: string | undefined): Unread {
  const chat = unread[message.chat_id];
  const counts =
    chat &&
    !message.deleted &&
    message.user_id !== me &&
    message.chat_id !== open &&
    after(message.ulid, chat.base.last_read) &&
    !chat.seen.some((s) => s.ulid === message.ulid);
  if (!counts) return unread;
  const entry = { ulid: message.ulid, mentionsMe: Boolean(message.mentions?.includes(me)), fresh: true };
  const seen = [...chat.seen, entry].sort((a, b) => (a.ulid < b.ulid ? -1 : 1)).slice(-MAX_UNREAD);
  return { ...unread, [message.chat_id]: { ...chat, seen } };
}

/** `unread` after `change` arrived: a deleted message stops counting, an
 *  edit may add or remove a mention of me. A change to an unread message
 *  not seen live (counted by the server) makes the chat's count stale. */
export function changed(unread: Unread, change: MessageChange, me: string): Unread {
  const chat = unread[change.chat_id];
  if (!chat || !after(change.ulid, chat.base.last_read)) return unread;
  if (change.type !== 'message_deleted' && change.type !== 'message_edited') return unread;
  const held = chat.seen.find((s) => s.ulid === change.ulid);
  if (!held) return { ...unread, [change.chat_id]: { ...chat, stale: true } };
  const seen =
    change.type === 'message_deleted'
      ? chat.seen.filter((s) => s !== held)
      : chat.seen.map((s) => (s === held ? { ...s, mentionsMe: Boolean(change.mentions?.includes(me)) } : s));
  // A message that was in the server's counts leaves them too.
  const base =
    change.type === 'message_deleted' && !held.fresh
      ? {
          ...chat.base,
          unread_count: Math.max(0, chat.base.unread_count - 1),
          mention_count: Math.max(0, chat.base.mention_count - (held.mentionsMe ? 1 : 0)),
        }
      : chat.base;
  return { ...unread, [change.chat_id]: { ...chat, base, seen } };
}

/** The counts of every listed chat, following the server and live messages. */
export function useUnread(me: string) {
  const [unread, setUnread] = useState<Unread>({});
  const onMessage = useCallback(
    (message: Message, open: string | undefined) => setUnread((current) => arrived(current, message, me, open)),
    [me],
  );
  const onChange = useCallback((change: MessageChange) => setUnread((current) => changed(current, change, me)), [me]);
  const onCounts = useCallback((chatId: string, counts: Counts) => setUnread((current) => counted(current, chatId, counts)), []);
  const keep = useCallback((chats: ChatItem[]) => setUnread((current) => listed(current, chats)), []);
  const onMissed = useCallback((chatId: string) => setUnread((current) => missed(current, chatId)), []);
  return { unread, onMessage, onChange, onCounts, keep, onMissed };
}

/** `unread` with `chatId`'s live count no longer trusted (messages were
 *  missed): the next chat list's counts replace it. */
export function missed(unread: Unread, chatId: string): Unread {
  const chat = unread[chatId];
  return chat ? { ...unread, [chatId]: { ...chat, stale: true } } : unread;
}

const plural = (n: number, one: string, many: string) => `${n > 99 ? '99+' : n} ${n === 1 ? one : many}`;

/** What follows a chat's title in its name in the rail (", 2 unread
 *  messages, 1 mention", ", muted" when muted), so the link reads
 *  "Standup, 2 unread messages, 1 mention". */
export function railCounts(counts: { unread: number; mentions: number }, muted: boolean): string {
  const parts: string[] = [];
  if (counts.unread > 0) parts.push(plural(counts.unread, 'unread message', 'unread messages'));
  if (counts.mentions > 0) parts.push(plural(counts.mentions, 'mention', 'mentions'));
  if (muted) parts.push('muted');
  return parts.map((part) => `, ${part}`).join('');
}
