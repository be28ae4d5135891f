import type { KeyboardEvent, RefObject } from 'react';
import type { ReplyTo } from '../../api/contract';

/** The message box: Enter sends (blank text is not sent), Shift+Enter adds a
 *  line. When answering a message it says so, with a button (or Escape) to
 *  stop answering. Writing says "typing"; leaving the box says it stopped. */
export function Composer({
  onSend,
  replyTo,
  onCancelReply,
  onTyping,
  onStop,
  input,
}: {
  onSend: (content: string) => void;
  replyTo: ReplyTo | null;
  onCancelReply: () => void;
  onTyping?: (text: string) => void;
  onStop?: () => void;
  input: RefObject<HTMLTextAreaElement | null>;
}) {
  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Escape' && replyTo) {
      event.preventDefault();
      onCancelReply();
      return;
    }
    if (event.key !== 'Enter' || event.shiftKey) return;
    event.preventDefault();
    const content = event.currentTarget.value;
    if (!content.trim()) return;
    event.currentTarget.value = '';
    onSend(content);
  }

  return (
    <div className="composer">
      {replyTo && (
        <div className="replying">
          <p>
            Replying to <strong>{replyTo.username ?? 'Unknown'}</strong>{' '}
            <span className="muted excerpt-line">{replyTo.excerpt}</span>
          </p>
          <button
            type="button"
            className="link"
            onClick={() => {
              onCancelReply();
              input.current?.focus();
            }}
          >
            Cancel reply
          </button>
        </div>
      )}
      <label>
        <span className="visually-hidden">Message</span>
        <textarea
          ref={input}
          placeholder="Write a message (Enter sends, Shift+Enter adds a line)"
          rows={2}
          maxLength={4000}
          onKeyDown={onKeyDown}
          onInput={(event) => onTyping?.(event.currentTarget.value)}
          onBlur={() => onStop?.()}
        />
      </label>
    </div>
  );
}
