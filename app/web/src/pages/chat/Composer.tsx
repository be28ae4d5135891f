import type { KeyboardEvent } from 'react';

/** The message box: Enter sends (blank text is not sent), Shift+Enter adds a line. */
export function Composer({ onSend }: { onSend: (content: string) => void }) {
  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key !== 'Enter' || event.shiftKey) return;
    event.preventDefault();
    const content = event.currentTarget.value;
    if (!content.trim()) return;
    event.currentTarget.value = '';
    onSend(content);
  }

  return (
    <label className="composer">
      <span className="visually-hidden">Message</span>
      <textarea placeholder="Write a message (Enter sends, Shift+Enter adds a line)" rows={2} maxLength={4000} onKeyDown={onKeyDown} />
    </label>
  );
}
