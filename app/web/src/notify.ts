// Browser notifications while the tab is hidden: a message from someone else
// notifies when its chat is set to "All", or when it mentions me in a chat
// set to "Mentions only" or "All"; a muted chat never does. The choice is
// per chat (the server keeps it: `notifications` in the chat list).
import { useCallback, useState } from 'react';
import type { Message, Schemas } from './api/client';

export type Level = Schemas['NotificationLevel'];

export const LEVELS: { value: Level; label: string }[] = [
  { value: 'all', label: 'All messages' },
  { value: 'mentions', label: 'Mentions only' },
  { value: 'muted', label: 'Muted' },
];

/** Whether `message` notifies `me` in a chat set to `level`. */
export function notifies(message: Message, me: string, level: Level): boolean {
  if (message.user_id === me || message.deleted || level === 'muted') return false;
  return level === 'all' || Boolean(message.mentions?.includes(me));
}

/** The notification's title and body. */
export function notification(message: Message, chatTitle: string, me: string): { title: string; body: string } {
  const author = message.author_metadata?.username ?? 'Someone';
  const mentioned = message.mentions?.includes(me);
  return { title: mentioned ? `${author} mentioned you in ${chatTitle}` : `${author} in ${chatTitle}`, body: message.content };
}

export type Permission = NotificationPermission | 'unsupported';

const current = (): Permission => (typeof Notification === 'undefined' ? 'unsupported' : Notification.permission);

/** The browser's permission, and asking for it. */
export function useNotificationPermission() {
  const [permission, setPermission] = useState<Permission>(current);
  const ask = useCallback(async () => {
    if (typeof Notification === 'undefined') return;
    setPermission(await Notification.requestPermission());
  }, []);
  return { permission, ask };
}

/** Notifications on screen, per chat, until read, left, muted or signed out. */
const pending = new Map<string, Set<Notification>>();

/** Closes what is on screen for `chatId`, or for every chat. */
export function dismiss(chatId?: string): void {
  for (const [id, shown] of pending) {
    if (chatId !== undefined && id !== chatId) continue;
    shown.forEach((n) => n.close());
    pending.delete(id);
  }
}

/** Shows `message` as a browser notification when the tab is hidden and it notifies. */
export function notifyHidden(message: Message, me: string, level: Level, chatTitle: string, open: (chatId: string) => void): void {
  if (document.visibilityState !== 'hidden' || current() !== 'granted' || !notifies(message, me, level)) return;
  const { title, body } = notification(message, chatTitle, me);
  const shown = new Notification(title, { body, tag: message.chat_id });
  const chat = pending.get(message.chat_id) ?? new Set();
  pending.set(message.chat_id, chat.add(shown));
  shown.onclose = () => chat.delete(shown);
  shown.onclick = () => {
    window.focus();
    open(message.chat_id);
    shown.close();
  };
}
