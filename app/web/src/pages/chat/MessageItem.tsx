import type { Message } from '../../api/client';
import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import type { Action, Reaction, ReplyTo } from '../../api/contract';
import { mentionParts } from '../../mentions';
import { Avatar } from '../Avatar';

/** The emoji the picker offers. */
export const COMMON_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];

export function time(timestamp: string): string {
  return new Date(timestamp).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function authorName(message: Message): string {
  return message.author_metadata?.username ?? 'Unknown';
}

/** One message: author and time (first of a group), the quote it answers,
 *  its text (or a placeholder once deleted), its reactions, and its actions,
 *  shown on hover and while focus is inside it. */
export function MessageItem({
  message,
  first,
  me,
  canDelete,
  highlighted,
  names,
  onAct,
  onReply,
  onDelete,
  onJump,
}: {
  message: Message;
  first: boolean;
  me: string;
  /** Mine, or in a chat I created. */
  canDelete: boolean;
  highlighted: boolean;
  /** Usernames of the chat's members, for who reacted. */
  names: Map<string, string>;
  onAct: (message: Message, action: Action) => void;
  onReply: (message: Message) => void;
  onDelete: (message: Message) => void;
  onJump: (ulid: string) => void;
}) {
  const [editing, setEditing] = useState(false);
  const [picking, setPicking] = useState(false);
  const editButton = useRef<HTMLButtonElement>(null);
  const reactButton = useRef<HTMLButtonElement>(null);
  const pickerId = useId();
  const name = authorName(message);
  const mine = message.user_id === me;
  const reactions = message.reactions ?? [];
  const mentionsMe = Boolean(message.mentions?.includes(me));

  function react(emoji: string) {
    const reacted = reactions.some((r) => r.emoji === emoji && r.user_ids.includes(me));
    onAct(message, reacted ? { type: 'reaction_removed', emoji } : { type: 'reaction_added', emoji });
  }

  function closeEditor(content?: string) {
    setEditing(false);
    if (content !== undefined && content !== message.content) onAct(message, { type: 'message_edited', content });
    // Focus back where the person was, once the button is rendered again.
    requestAnimationFrame(() => editButton.current?.focus());
  }

  return (
    <li
      id={`message-${message.ulid}`}
      tabIndex={-1}
      className={`message${first ? '' : ' continued'}${highlighted ? ' highlight' : ''}${picking ? ' picking' : ''}${mentionsMe && !message.deleted ? ' mentions-me' : ''}`}
    >
      {first ? <Avatar id={message.user_id} name={name} /> : <span />}
      <div className="body">
        {first && (
          <p className="meta">
            <strong>{name}</strong> <time dateTime={message.timestamp}>{time(message.timestamp)}</time>
          </p>
        )}
        {message.reply_to && <Quote quote={message.reply_to} names={names} onJump={onJump} />}
        {message.deleted ? (
          <p className="text deleted">Message deleted</p>
        ) : editing ? (
          <Editor content={message.content} onDone={closeEditor} />
        ) : (
          <p className="text" title={first ? undefined : time(message.timestamp)}>
            <span className="content">
              <Content message={message} me={me} names={names} />
            </span>
            {message.edited_at && (
              <>
                {' '}
                <span className="edited" title={`Edited at ${time(message.edited_at)}`}>(edited)</span>
              </>
            )}
          </p>
        )}
        {reactions.length > 0 && <Reactions reactions={reactions} me={me} names={names} onToggle={react} />}
        {picking && (
          <ReactionPicker
            id={pickerId}
            chosen={reactions.filter((r) => r.user_ids.includes(me)).map((r) => r.emoji)}
            onPick={(emoji) => {
              react(emoji);
              setPicking(false);
              reactButton.current?.focus();
            }}
            onClose={() => {
              setPicking(false);
              reactButton.current?.focus();
            }}
            onLeave={(to) => {
              if (to !== reactButton.current) setPicking(false);
            }}
          />
        )}
        {!message.deleted && !editing && (
          <div className="message-actions" role="group" aria-label={`Actions for the message from ${name}`}>
            <button
              ref={reactButton}
              type="button"
              aria-expanded={picking}
              aria-controls={picking ? pickerId : undefined}
              onClick={() => setPicking(!picking)}
            >
              React
            </button>
            <button type="button" onClick={() => onReply(message)}>Reply</button>
            {mine && (
              <button ref={editButton} type="button" onClick={() => { setPicking(false); setEditing(true); }}>
                Edit
              </button>
            )}
            {(mine || canDelete) && <button type="button" className="danger" onClick={() => onDelete(message)}>Delete</button>}
          </div>
        )}
      </div>
    </li>
  );
}

/** A message's text with the members it mentions marked (mine distinctly). */
function Content({ message, me, names }: { message: Message; me: string; names: Map<string, string> }) {
  const mentioned = (message.mentions ?? []).flatMap((id): [string, string][] => {
    const name = names.get(id);
    return name ? [[id, name]] : [];
  });
  if (mentioned.length === 0) return <>{message.content}</>;
  return (
    <>
      {mentionParts(message.content, mentioned, me).map((part, i) =>
        'text' in part ? (
          part.text
        ) : part.me ? (
          <mark key={i} className="mention me" title="Mentions you">{part.mention}</mark>
        ) : (
          <span key={i} className="mention">{part.mention}</span>
        ),
      )}
    </>
  );
}

/** The message a reply answers, as it is now; clicking shows the original. */
export function Quote({ quote, names, onJump }: { quote: ReplyTo; names: Map<string, string>; onJump?: (ulid: string) => void }) {
  const author = quote.username ?? names.get(quote.user_id) ?? 'Unknown';
  const text = quote.deleted ? 'Message deleted' : quote.excerpt;
  const inner = (
    <>
      <strong>{author}</strong> <span className={quote.deleted ? 'deleted' : undefined}>{text}</span>
    </>
  );
  const name = `In reply to ${author}: ${text}`;
  if (!onJump) {
    return (
      <p className="quote">
        <span className="visually-hidden">In reply to </span>
        {inner}
      </p>
    );
  }
  return (
    <button type="button" className="quote" aria-label={name} title="Show the original message" onClick={() => onJump(quote.ulid)}>
      {inner}
    </button>
  );
}

/** One chip per emoji: its count, pressed when I reacted; clicking toggles mine. */
function Reactions({
  reactions,
  me,
  names,
  onToggle,
}: {
  reactions: Reaction[];
  me: string;
  names: Map<string, string>;
  onToggle: (emoji: string) => void;
}) {
  return (
    <div className="reactions" role="group" aria-label="Reactions">
      {reactions.map((r) => {
        const count = r.user_ids.length;
        const mine = r.user_ids.includes(me);
        const who = r.user_ids.map((id) => (id === me ? 'you' : names.get(id) ?? 'someone')).join(', ');
        return (
          <button
            key={r.emoji}
            type="button"
            className="chip"
            aria-pressed={mine}
            aria-label={`${r.emoji} ${count} ${count === 1 ? 'reaction' : 'reactions'}${mine ? ', you reacted' : ''}`}
            title={who}
            onClick={() => onToggle(r.emoji)}
          >
            <span className="emoji" aria-hidden="true">{r.emoji}</span> {count}
          </button>
        );
      })}
    </div>
  );
}

/** The small picker: one named button per common emoji; Escape closes it. */
function ReactionPicker({
  id,
  chosen,
  onPick,
  onClose,
  onLeave,
}: {
  id: string;
  chosen: string[];
  onPick: (emoji: string) => void;
  onClose: () => void;
  /** Focus moved out of the picker, to `to`. */
  onLeave: (to: Element | null) => void;
}) {
  const group = useRef<HTMLDivElement>(null);
  useEffect(() => group.current?.querySelector('button')?.focus(), []);
  return (
    <div
      id={id}
      ref={group}
      className="picker"
      role="group"
      aria-label="Pick a reaction"
      onBlur={(event) => {
        const to = event.relatedTarget as Element | null;
        if (!event.currentTarget.contains(to)) onLeave(to);
      }}
      onKeyDown={(event) => {
        if (event.key !== 'Escape') return;
        event.stopPropagation();
        onClose();
      }}
    >
      {COMMON_EMOJI.map((emoji) => (
        <button
          key={emoji}
          type="button"
          className="emoji"
          aria-label={`React with ${emoji}`}
          aria-pressed={chosen.includes(emoji)}
          onClick={() => onPick(emoji)}
        >
          {emoji}
        </button>
      ))}
    </div>
  );
}

/** Editing in place: Enter saves, Shift+Enter adds a line, Escape cancels. */
function Editor({ content, onDone }: { content: string; onDone: (content?: string) => void }) {
  const [text, setText] = useState(content);
  const blank = !text.trim();
  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Escape') {
      event.preventDefault();
      onDone();
    } else if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      if (!blank) onDone(text);
    }
  }
  return (
    <div className="editor">
      <label>
        <span className="visually-hidden">Edit message</span>
        <textarea
          value={text}
          rows={Math.min(8, text.split('\n').length + 1)}
          maxLength={4000}
          autoFocus
          onFocus={(event) => event.currentTarget.setSelectionRange(text.length, text.length)}
          onChange={(event) => setText(event.target.value)}
          onKeyDown={onKeyDown}
        />
      </label>
      <p className="hint">
        {blank ? 'A message cannot be empty: delete it instead.' : 'Enter saves, Escape cancels.'}
        <button type="button" className="link" onClick={() => onDone()}>Cancel</button>
        <button type="button" className="link" disabled={blank} onClick={() => onDone(text)}>Save</button>
      </p>
    </div>
  );
}
