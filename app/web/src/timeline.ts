// How a chat's messages are laid out: a separator when the day changes, and
// consecutive messages of one author within five minutes shown as one group
// (the name and avatar once).
import type { Message } from './api/client';

export type Row =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'message'; key: string; message: Message; first: boolean };

const GROUP_GAP_MS = 5 * 60 * 1000;

export function dayLabel(date: Date, today: Date): string {
  const day = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(today) - day(date)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return date.toLocaleDateString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

/** Rows for `messages` (oldest first), in local time. */
export function timeline(messages: Message[], today = new Date()): Row[] {
  const rows: Row[] = [];
  let previous: Message | undefined;
  for (const message of messages) {
    const at = new Date(message.timestamp);
    const before = previous ? new Date(previous.timestamp) : undefined;
    const newDay = !before || at.toDateString() !== before.toDateString();
    if (newDay) rows.push({ kind: 'day', key: `day-${at.toDateString()}`, label: dayLabel(at, today) });
    const first =
      newDay || !before || previous?.user_id !== message.user_id || at.getTime() - before.getTime() > GROUP_GAP_MS;
    rows.push({ kind: 'message', key: message.ulid, message, first });
    previous = message;
  }
  return rows;
}
