// Unread counts per chat. Messages from other people to a chat that is not
// open count; opening the chat reads them. Changes to messages (edits,
// reactions) never count; a deleted message stops counting. Each chat keeps the ULIDs it
// counted (so a message delivered twice, live and by a history page or
// again after a reconnect, counts once) and the newest it has read. Kept in
// localStorage per account, so a reload keeps the counts. A chat that
// appears while the app is open (someone added you) counts the messages of
// its newest history page; chats listed at the first load in a browser
// start at zero, and messages sent while no tab was open are not counted
// (there is no server-side read position yet, docs/web.md).
import { useCallback, useEffect, useState } from 'react';
import type { Message } from './api/client';
import type { MessageChange } from './api/contract';

/** The most unread messages a chat keeps (shown as 99+ past 99). */
export const MAX_UNREAD = 100;

export interface ChatUnread {
  /** Counted, unread, oldest first. */
  unread: string[];
  /** The newest message read. */
  read: string;
}
export type Unread = Record<string, ChatUnread>;

/** `unread` after `message` arrived while `open` was the chat on screen. */
export function arrived(unread: Unread, message: Message, me: string, open: string | undefined): Unread {
  const chat = unread[message.chat_id] ?? { unread: [], read: '' };
  const counts =
    !message.deleted &&
    message.user_id !== me && message.chat_id !== open && message.ulid > chat.read && !chat.unread.includes(message.ulid);
  if (!counts) return unread;
  const counted = [...chat.unread, message.ulid].sort().slice(-MAX_UNREAD);
  return { ...unread, [message.chat_id]: { ...chat, unread: counted } };
}

/** `unread` after `change` (an edit, a reaction, a deletion) arrived: changes
 *  never count; a deleted message is no longer unread. */
export function changed(unread: Unread, change: MessageChange): Unread {
  const chat = unread[change.chat_id];
  if (change.type !== 'message_deleted' || !chat?.unread.includes(change.ulid)) return unread;
  return { ...unread, [change.chat_id]: { ...chat, unread: chat.unread.filter((ulid) => ulid !== change.ulid) } };
}

/** `unread` with `chatId` read. */
export function read(unread: Unread, chatId: string): Unread {
  const chat = unread[chatId];
  if (!chat || chat.unread.length === 0) return unread;
  return { ...unread, [chatId]: { unread: [], read: chat.unread.at(-1) ?? chat.read } };
}

/** `unread` for exactly the chats listed: left and deleted chats drop out,
 *  new ones start with nothing unread. */
export function listed(unread: Unread, chatIds: string[]): Unread {
  const same = chatIds.length === Object.keys(unread).length && chatIds.every((id) => unread[id]);
  if (same) return unread;
  return Object.fromEntries(chatIds.map((id) => [id, unread[id] ?? { unread: [], read: '' }]));
}

function load(key: string): Unread {
  try {
    const stored = JSON.parse(localStorage.getItem(key) ?? '{}') as Unread;
    return stored && typeof stored === 'object' ? stored : {};
  } catch {
    return {};
  }
}

/** The counts of account `me`, persisted, with the chat on screen marked read. */
export function useUnread(me: string, open: string | undefined) {
  const key = `harmony-unread-${me}`;
  const [unread, setUnread] = useState<Unread>(() => load(key));
  useEffect(() => localStorage.setItem(key, JSON.stringify(unread)), [key, unread]);
  useEffect(() => {
    if (open) setUnread((current) => read(current, open));
  }, [open]);
  const onMessage = useCallback(
    (message: Message, openNow: string | undefined) => setUnread((current) => arrived(current, message, me, openNow)),
    [me],
  );
  const onChange = useCallback((change: MessageChange) => setUnread((current) => changed(current, change)), []);
  const keep = useCallback((chatIds: string[]) => setUnread((current) => listed(current, chatIds)), []);
  return { unread, onMessage, onChange, keep };
}
