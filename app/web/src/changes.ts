// Changes to sent messages (edits, deletions, reactions) folded into what
// the chat shows, by the platform's one rule (app/src/domain/change.rs:
// `MessageChange::apply` and `apply_to_quote`).
import type { Message } from './api/client';
import type { MessageChange } from './api/contract';

/** Distinct emoji one message may carry. */
export const MAX_REACTIONS = 20;
/** Characters of the quoted message a reply keeps. */
export const EXCERPT_CHARS = 120;

const CHANGE_TYPES: ReadonlySet<string> = new Set(['message_edited', 'message_deleted', 'reaction_added', 'reaction_removed']);

/** A record published on `chat:<id>` is a change when its `type` names one
 *  (message records have none; typing publications are `typing`). */
export function isChange(record: unknown): record is MessageChange {
  return typeof record === 'object' && record !== null && CHANGE_TYPES.has((record as { type?: unknown }).type as string);
}

/** The start of a message, as a reply quotes it (in characters, not UTF-16 units). */
export function excerpt(content: string): string {
  return Array.from(content).slice(0, EXCERPT_CHARS).join('');
}

/** The message after `change`. A change to a deleted message changes
 *  nothing (no resurrection); reactions are sets (no double counts). */
export function applyChange(change: MessageChange, message: Message): Message {
  if (message.deleted) return message;
  const reactions = message.reactions ?? [];
  switch (change.type) {
    case 'message_edited':
      return { ...message, content: change.content, edited_at: change.timestamp };
    case 'message_deleted':
      return { ...message, deleted: true, content: '', edited_at: undefined, reactions: [] };
    case 'reaction_added': {
      const reaction = reactions.find((r) => r.emoji === change.emoji);
      if (reaction?.user_ids.includes(change.user_id)) return message;
      return {
        ...message,
        reactions: reaction
          ? reactions.map((r) => (r === reaction ? { ...r, user_ids: [...r.user_ids, change.user_id] } : r))
          : [...reactions, { emoji: change.emoji, user_ids: [change.user_id] }],
      };
    }
    case 'reaction_removed':
      return {
        ...message,
        reactions: reactions
          .map((r) => (r.emoji === change.emoji ? { ...r, user_ids: r.user_ids.filter((u) => u !== change.user_id) } : r))
          .filter((r) => r.user_ids.length > 0),
      };
  }
}

/** What `change` does to a reply quoting the changed message, if anything.
 *  A deleted quote stays empty (an edit racing the deletion brings nothing back). */
export function applyToQuote(change: MessageChange, reply: Message): Message {
  const quote = reply.reply_to;
  if (!quote || quote.ulid !== change.ulid || quote.deleted) return reply;
  switch (change.type) {
    case 'message_edited':
      return { ...reply, reply_to: { ...quote, excerpt: excerpt(change.content) } };
    case 'message_deleted':
      return { ...reply, reply_to: { ...quote, excerpt: '', deleted: true } };
    default:
      return reply;
  }
}

/** A message as a snapshot holds it (a history page, a live copy), and the
 *  position in the change log from which changes are newer than it. */
export interface Snapshot {
  message: Message;
  from: number;
}

/** The messages as they are now: each snapshot with the logged changes
 *  newer than it, in log order, then this browser's unconfirmed changes
 *  (optimistic, dropped again if the server refuses them). */
export function withChanges(snapshots: Snapshot[], log: MessageChange[], optimistic: MessageChange[] = []): Message[] {
  const byTarget = new Map<string, number[]>();
  log.forEach((change, index) => {
    const indexes = byTarget.get(change.ulid);
    if (indexes) indexes.push(index);
    else byTarget.set(change.ulid, [index]);
  });
  return snapshots.map(({ message, from }) => {
    let now = message;
    for (const index of byTarget.get(message.ulid) ?? []) {
      if (index >= from) now = applyChange(log[index] as MessageChange, now);
    }
    const quoted = message.reply_to?.ulid;
    for (const index of (quoted && byTarget.get(quoted)) || []) {
      if (index >= from) now = applyToQuote(log[index] as MessageChange, now);
    }
    for (const change of optimistic) {
      now = change.ulid === now.ulid ? applyChange(change, now) : applyToQuote(change, now);
    }
    return now;
  });
}
