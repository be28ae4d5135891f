import { useRef } from 'react';
import type { User } from '../api/client';
import { ChatHeader } from './chat/ChatHeader';
import { Composer } from './chat/Composer';
import { MessageList } from './chat/MessageList';
import { useChatMessages } from './chat/useChatMessages';

/** One open chat: its header, its messages (history and live), and the composer. */
export function ChatView({ me, chatId, title }: { me: User; chatId: string; title?: string }) {
  const chat = useChatMessages(me, chatId);
  const { history } = chat;
  const stickToBottom = useRef(true);

  // Sending (or retrying) brings the view back to the newest message.
  function send(content: string, clientUuid: string) {
    stickToBottom.current = true;
    void chat.send(content, clientUuid);
  }

  return (
    <section className="chat" aria-label={title || 'Untitled chat'}>
      <ChatHeader chatId={chatId} title={title || 'Untitled chat'} />
      {history.isError && <p className="error" role="alert">Could not load messages. <button type="button" onClick={() => void history.refetch()}>Try again</button></p>}
      <MessageList me={me} chat={chat} stickToBottom={stickToBottom} onRetry={send} />
      <Composer onSend={(content) => send(content, crypto.randomUUID())} />
    </section>
  );
}
