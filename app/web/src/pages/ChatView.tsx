import { useRef, useState } from 'react';
import type { Message, User } from '../api/client';
import type { ReplyTo } from '../api/contract';
import { excerpt } from '../changes';
import { ChatHeader } from './chat/ChatHeader';
import { Composer } from './chat/Composer';
import { MessageList } from './chat/MessageList';
import { authorName } from './chat/MessageItem';
import { useChatMessages, type Pending } from './chat/useChatMessages';

/** One open chat: its header, its messages (history and live), and the composer. */
export function ChatView({ me, chatId, title, createdBy }: { me: User; chatId: string; title?: string; createdBy?: string | null }) {
  const chat = useChatMessages(me, chatId);
  const { history } = chat;
  const stickToBottom = useRef(true);
  const input = useRef<HTMLTextAreaElement>(null);
  const [replyTo, setReplyTo] = useState<ReplyTo | null>(null);

  // Sending (or retrying) brings the view back to the newest message.
  function send(content: string, clientUuid: string, quote?: ReplyTo) {
    stickToBottom.current = true;
    void chat.send(content, clientUuid, quote);
  }

  function reply(message: Message) {
    setReplyTo({ ulid: message.ulid, user_id: message.user_id, username: authorName(message), excerpt: excerpt(message.content), deleted: false });
    input.current?.focus();
  }

  return (
    <section className="chat" aria-label={title || 'Untitled chat'}>
      <ChatHeader chatId={chatId} title={title || 'Untitled chat'} />
      {history.isError && <p className="error" role="alert">Could not load messages. <button type="button" onClick={() => void history.refetch()}>Try again</button></p>}
      <MessageList
        me={me}
        chatId={chatId}
        createdByMe={createdBy === me.user_id}
        chat={chat}
        stickToBottom={stickToBottom}
        onRetry={(p: Pending) => send(p.content, p.client_uuid, p.reply_to)}
        onReply={reply}
      />
      <p className="error action-error" role="alert">
        {chat.actionError && (
          <>
            {chat.actionError}{' '}
            <button type="button" className="link" onClick={() => chat.notify('')}>Dismiss</button>
          </>
        )}
      </p>
      <Composer
        input={input}
        replyTo={replyTo}
        onCancelReply={() => setReplyTo(null)}
        onSend={(content) => {
          send(content, crypto.randomUUID(), replyTo ?? undefined);
          setReplyTo(null);
        }}
      />
    </section>
  );
}
