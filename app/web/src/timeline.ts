// How a chat's messages are laid out: a separator when the day changes, and
// consecutive messages of one author within five minutes shown as one group
// (the name and avatar once). A "New messages" divider goes before the
// first message I had not read when the chat was opened.
import type { Message } from './api/client';

export type Row =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'message'; key: string; message: Message; first: boolean }
  | { kind: 'new'; key: string };

const GROUP_GAP_MS = 5 * 60 * 1000;

export function dayLabel(date: Date, today: Date): string {
  const day = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(today) - day(date)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return date.toLocaleDateString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

/** The first unread message of `messages` (oldest first) for a reader at
 *  `lastRead` with `unreadCount` waiting: the first from someone else after
 *  the position; with no position yet (what came before joining counts as
 *  read), the `unreadCount`-th newest from someone else. */
export function firstUnread(messages: Message[], lastRead: string | null | undefined, unreadCount: number, me: string): string | undefined {
  const others = messages.filter((m) => m.user_id !== me && !m.deleted);
  if (lastRead) return others.find((m) => m.ulid > lastRead)?.ulid;
  return unreadCount > 0 ? others.at(-Math.min(unreadCount, others.length))?.ulid : undefined;
}

/** Rows for `messages` (oldest first), in local time, with the divider
 *  before `unreadFrom`. */
export function timeline(messages: Message[], today = new Date(), unreadFrom?: string): Row[] {
  const rows: Row[] = [];
  let previous: Message | undefined;
  for (const message of messages) {
    const at = new Date(message.timestamp);
    const before = previous ? new Date(previous.timestamp) : undefined;
    const newDay = !before || at.toDateString() !== before.toDateString();
    if (newDay) rows.push({ kind: 'day', key: `day-${at.toDateString()}`, label: dayLabel(at, today) });
    const unread = message.ulid === unreadFrom;
    if (unread) rows.push({ kind: 'new', key: 'new-messages' });
    const first =
      newDay || unread || !before || previous?.user_id !== message.user_id || at.getTime() - before.getTime() > GROUP_GAP_MS;
    rows.push({ kind: 'message', key: message.ulid, message, first });
    previous = message;
  }
  return rows;
}
