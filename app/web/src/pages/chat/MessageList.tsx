import { useEffect, useLayoutEffect, useRef, type RefObject } from 'react';
import type { User } from '../../api/client';
import { timeline } from '../../timeline';
import { Avatar } from '../Avatar';
import type { ChatMessages, Pending } from './useChatMessages';

function time(timestamp: string): string {
  return new Date(timestamp).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** The messages, oldest first, then this browser's pending sends. Older
 *  pages load when the top comes into view; the reader's place is kept, and
 *  the view follows new messages while `stickToBottom` holds. */
export function MessageList({
  me,
  chat,
  stickToBottom,
  onRetry,
}: {
  me: User;
  chat: ChatMessages;
  stickToBottom: RefObject<boolean>;
  onRetry: (content: string, clientUuid: string) => void;
}) {
  const { history, messages, pending } = chat;
  const list = useRef<HTMLOListElement>(null);
  const top = useRef<HTMLLIElement>(null);
  const fromBottom = useRef(0);

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

  useLayoutEffect(() => {
    const element = list.current;
    if (!element) return;
    if (fromBottom.current) {
      element.scrollTop = element.scrollHeight - fromBottom.current;
      fromBottom.current = 0;
    } else if (stickToBottom.current) {
      element.scrollTop = element.scrollHeight;
    }
  }, [messages.length, pending.length, history.data?.pages.length, stickToBottom]);

  return (
    <ol
      className="messages"
      ref={list}
      aria-label="Messages"
      onScroll={(e) => {
        const el = e.currentTarget;
        stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
      }}
    >
      <li ref={top} className="muted edge">{history.hasNextPage ? 'Loading older messages…' : messages.length ? 'The beginning of this chat' : ''}</li>
      {timeline(messages).map((row) =>
        row.kind === 'day' ? (
          <li key={row.key} className="day">
            <span>{row.label}</span>
          </li>
        ) : (
          <li key={row.key} className={`message${row.first ? '' : ' continued'}`}>
            {row.first ? <Avatar id={row.message.user_id} name={row.message.author_metadata?.username ?? '?'} /> : <span />}
            <div>
              {row.first && (
                <p className="meta">
                  <strong>{row.message.author_metadata?.username ?? 'Unknown'}</strong>{' '}
                  <time dateTime={row.message.timestamp}>{time(row.message.timestamp)}</time>
                </p>
              )}
              <p className="content" title={row.first ? undefined : time(row.message.timestamp)}>{row.message.content}</p>
            </div>
          </li>
        ),
      )}
      {pending.map((p) => (
        <PendingMessage key={p.client_uuid} me={me} pending={p} onRetry={onRetry} />
      ))}
      {messages.length === 0 && pending.length === 0 && history.isSuccess && <li className="muted edge">No messages yet. Say hello.</li>}
    </ol>
  );
}

/** A send not acknowledged yet: "Sending…", or "Not sent" with a retry. */
function PendingMessage({ me, pending: p, onRetry }: { me: User; pending: Pending; onRetry: (content: string, clientUuid: string) => void }) {
  return (
    <li className={`message pending${p.failed ? ' failed' : ''}`}>
      <Avatar id={me.user_id} name={me.meta.username} />
      <div>
        <p className="meta">
          <strong>{me.meta.username}</strong> {p.failed ? 'Not sent' : 'Sending…'}
          {p.failed && (
            <button type="button" className="link" onClick={() => onRetry(p.content, p.client_uuid)}>Retry</button>
          )}
        </p>
        <p className="content">{p.content}</p>
      </div>
    </li>
  );
}
