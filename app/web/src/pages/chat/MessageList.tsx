import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type RefObject } from 'react';
import type { Message, User } from '../../api/client';
import { firstUnread, timeline } from '../../timeline';
import type { Position } from '../ChatView';
import { Avatar } from '../Avatar';
import { useMembers } from './Members';
import { authorName, MessageItem, Quote } from './MessageItem';
import type { ChatMessages, Pending } from './useChatMessages';

/** How long a message shown from a reply's quote stays highlighted. */
const HIGHLIGHT_MS = 2500;

/** The newest message of `list` in view, if any. Without layout (jsdom)
 *  every message counts as in view. */
function newestInView(list: HTMLElement): string | undefined {
  const box = list.getBoundingClientRect();
  const items = list.querySelectorAll<HTMLElement>('li.message[id^="message-"]');
  for (let i = items.length - 1; i >= 0; i -= 1) {
    const item = items[i]!.getBoundingClientRect();
    if (box.height === 0 || (item.top < box.bottom && item.bottom > box.top)) return items[i]!.id.slice('message-'.length);
    if (item.bottom <= box.top) return undefined;
  }
  return undefined;
}

/** The messages, oldest first, then this browser's pending sends. Older
 *  pages load when the top comes into view; the reader's place is kept, and
 *  the view follows new messages while `stickToBottom` holds. A divider
 *  shows where unread began when the chat opened; the newest message in view
 *  while the page is visible is reported seen. */
export function MessageList({
  me,
  chatId,
  createdByMe,
  chat,
  stickToBottom,
  unreadFrom: opened,
  onSeen,
  onRetry,
  onReply,
}: {
  me: User;
  chatId: string;
  /** I created the chat: I may delete anyone's message. */
  createdByMe: boolean;
  chat: ChatMessages;
  stickToBottom: RefObject<boolean>;
  /** My reading when the chat opened (unknown until the chat list loads). */
  unreadFrom?: Position;
  onSeen?: (ulid: string) => void;
  onRetry: (pending: Pending) => void;
  onReply: (message: Message) => void;
}) {
  const { history, messages, pending } = chat;
  const list = useRef<HTMLOListElement>(null);
  const top = useRef<HTMLLIElement>(null);
  const fromBottom = useRef(0);
  const confirm = useRef<HTMLDialogElement>(null);
  const [deleting, setDeleting] = useState<Message | null>(null);
  const [seeking, setSeeking] = useState<string | null>(null);
  const [highlighted, setHighlighted] = useState<string | null>(null);
  const members = useMembers(chatId);
  const names = useMemo(() => new Map(members.data?.map((m) => [m.user_id, m.meta.username])), [members.data]);

  // Where the divider goes, fixed once the position and a fresh newest page
  // are known (a page cached by an earlier visit lacks what came since).
  const [divider, setDivider] = useState<string | null>(null);
  const placed = useRef(false);
  const fresh = history.isSuccess && !history.isFetching;
  useEffect(() => {
    if (placed.current || !opened || !fresh) return;
    placed.current = true;
    setDivider(firstUnread(messages, opened.lastRead, opened.unread, me.user_id) ?? null);
  }, [opened, fresh, messages, me.user_id]);

  const onSeenRef = useRef(onSeen);
  onSeenRef.current = onSeen;
  const messagesRef = useRef(messages);
  messagesRef.current = messages;
  // Only other people's messages count as unread, so the newest of theirs at
  // or before the newest in view is what is reported (my own sends mark nothing).
  const seen = useCallback(() => {
    const element = list.current;
    if (!element || document.visibilityState !== 'visible') return;
    const inView = newestInView(element);
    const theirs = inView && [...messagesRef.current].reverse().find((m) => m.ulid <= inView && m.user_id !== me.user_id);
    if (theirs) onSeenRef.current?.(theirs.ulid);
  }, [me.user_id]);
  useEffect(() => {
    document.addEventListener('visibilitychange', seen);
    window.addEventListener('focus', seen);
    return () => {
      document.removeEventListener('visibilitychange', seen);
      window.removeEventListener('focus', seen);
    };
  }, [seen]);

  useEffect(() => {
    const sentinel = top.current;
    if (!sentinel) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries[0]?.isIntersecting && history.hasNextPage && !history.isFetchingNextPage) {
        const element = list.current;
        if (element) fromBottom.current = element.scrollHeight - element.scrollTop;
        void history.fetchNextPage();
      }
    });
    observer.observe(sentinel);
    return () => observer.disconnect();
  }, [history]);

  // An older page keeps the reader's place; anything else (a message, an
  // edit, a reaction) keeps the view on the newest while it was there.
  const pages = history.data?.pages.length ?? 0;
  const pagesBefore = useRef(pages);
  useLayoutEffect(() => {
    const element = list.current;
    const olderPage = pages > pagesBefore.current;
    pagesBefore.current = pages;
    if (!element) return;
    if (fromBottom.current && olderPage) {
      element.scrollTop = element.scrollHeight - fromBottom.current;
      fromBottom.current = 0;
    } else if (stickToBottom.current) {
      element.scrollTop = element.scrollHeight;
    }
    seen();
  }, [messages, pending.length, pages, stickToBottom, seen]);

  // Showing the message a quote answers: older pages load until it is there,
  // then it is scrolled to, focused and highlighted.
  useEffect(() => {
    if (!seeking) return;
    const element = document.getElementById(`message-${seeking}`);
    if (element) {
      element.scrollIntoView({ block: 'center' });
      element.focus({ preventScroll: true });
      setHighlighted(seeking);
      setSeeking(null);
    } else if (history.hasNextPage) {
      if (!history.isFetchingNextPage) void history.fetchNextPage();
    } else if (!history.isFetching) {
      setSeeking(null);
      chat.notify('The original message is no longer in this chat.');
    }
  }, [seeking, messages, history, chat]);

  useEffect(() => {
    if (!highlighted) return;
    const timer = setTimeout(() => setHighlighted(null), HIGHLIGHT_MS);
    return () => clearTimeout(timer);
  }, [highlighted]);

  function jump(ulid: string) {
    stickToBottom.current = false;
    setSeeking(ulid);
  }

  function askToDelete(message: Message) {
    setDeleting(message);
    confirm.current?.showModal();
  }

  function remove() {
    const message = deleting;
    confirm.current?.close();
    if (!message) return;
    chat.act(message, { type: 'message_deleted' });
    // Its actions are gone with it: focus stays on the message.
    document.getElementById(`message-${message.ulid}`)?.focus();
  }

  return (
    <>
      <ol
        className="messages"
        ref={list}
        aria-label="Messages"
        onScroll={(e) => {
          const el = e.currentTarget;
          stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
          seen();
        }}
      >
        <li ref={top} className="muted edge">{history.hasNextPage ? 'Loading older messages…' : messages.length ? 'The beginning of this chat' : ''}</li>
        {timeline(messages, new Date(), divider ?? undefined).map((row) =>
          row.kind === 'day' ? (
            <li key={row.key} className="day">
              <span>{row.label}</span>
            </li>
          ) : row.kind === 'new' ? (
            <li key={row.key} className="day new-messages">
              <span>New messages</span>
            </li>
          ) : (
            <MessageItem
              key={row.key}
              message={row.message}
              first={row.first}
              me={me.user_id}
              canDelete={createdByMe}
              highlighted={highlighted === row.message.ulid}
              names={names}
              onAct={(message, action) => void chat.act(message, action)}
              onReply={onReply}
              onDelete={askToDelete}
              onJump={jump}
            />
          ),
        )}
        {pending.map((p) => (
          <PendingMessage key={p.client_uuid} me={me} pending={p} names={names} onRetry={onRetry} />
        ))}
        {messages.length === 0 && pending.length === 0 && history.isSuccess && <li className="muted edge">No messages yet. Say hello.</li>}
      </ol>
      <dialog ref={confirm} className="card" aria-labelledby={`delete-message-${chatId}`} onClose={() => setDeleting(null)}>
        <div className="stack">
          <h2 id={`delete-message-${chatId}`}>Delete message?</h2>
          <p>
            {deleting && deleting.user_id !== me.user_id ? `${authorName(deleting)}’s message` : 'Your message'} is deleted for
            everyone in this chat. This cannot be undone.
          </p>
          {deleting && <blockquote className="excerpt">{deleting.content}</blockquote>}
          <div className="actions">
            <button className="button" type="button" onClick={() => confirm.current?.close()}>Cancel</button>
            <button className="button danger" type="button" onClick={remove}>Delete</button>
          </div>
        </div>
      </dialog>
    </>
  );
}

/** A send not acknowledged yet: "Sending…", or "Not sent" with a retry. */
function PendingMessage({
  me,
  pending: p,
  names,
  onRetry,
}: {
  me: User;
  pending: Pending;
  names: Map<string, string>;
  onRetry: (pending: Pending) => void;
}) {
  return (
    <li className={`message pending${p.failed ? ' failed' : ''}`}>
      <Avatar id={me.user_id} name={me.meta.username} />
      <div className="body">
        <p className="meta">
          <strong>{me.meta.username}</strong> {p.failed ? 'Not sent' : 'Sending…'}
          {p.failed && (
            <button type="button" className="link" onClick={() => onRetry(p)}>Retry</button>
          )}
        </p>
        {p.reply_to && <Quote quote={p.reply_to} names={names} />}
        <p className="text">
          <span className="content">{p.content}</span>
        </p>
      </div>
    </li>
  );
}
