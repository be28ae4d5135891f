import { useEffect, useRef, useState } from 'react';
import { api, type Message, type User } from '../api/client';
import type { ReplyTo } from '../api/contract';
import { excerpt } from '../changes';
import type { Level } from '../notify';
import { usePresence } from '../presence';
import { readMarker, type Marked, type ReadMarker } from '../readMarker';
import { typingText, useTyping } from '../typing';
import type { Counts } from '../unread';
import { ChatHeader } from './chat/ChatHeader';
import { Composer } from './chat/Composer';
import { useMembers } from './chat/Members';
import { MessageList } from './chat/MessageList';
import { authorName } from './chat/MessageItem';
import { useChatMessages, type Pending } from './chat/useChatMessages';

/** Where my reading stood when the chat opened. */
export interface Position {
  lastRead: string | null;
  unread: number;
}

/** One open chat: its header, its messages (history and live), who is
 *  typing, and the composer. What I see is marked read. */
export function ChatView({
  me,
  chatId,
  title,
  createdBy,
  notifications,
  position,
  onRead,
}: {
  me: User;
  chatId: string;
  title?: string;
  createdBy?: string | null;
  notifications?: Level;
  /** My read position and unread count (unknown until the chat list loads). */
  position?: Position;
  /** The server placed my read position: its counts. */
  onRead?: (counts: Counts) => void;
}) {
  const chat = useChatMessages(me, chatId);
  const { history } = chat;
  const stickToBottom = useRef(true);
  const input = useRef<HTMLTextAreaElement>(null);
  const [replyTo, setReplyTo] = useState<ReplyTo | null>(null);
  const online = usePresence(chatId);
  const { typing, sender } = useTyping(chatId, me.user_id);
  const members = useMembers(chatId);
  const names = new Map(members.data?.map((m) => [m.user_id, m.meta.username]));

  // The divider stays where unread began when the chat opened.
  const [opened, setOpened] = useState(position);
  useEffect(() => {
    if (!opened && position) setOpened(position);
  }, [opened, position]);

  const onReadRef = useRef(onRead);
  onReadRef.current = onRead;
  const marker = useRef<ReadMarker | null>(null);
  useEffect(() => {
    const put = async (ulid: string): Promise<Marked> => {
      const { data, response } = await api.PUT('/api/v1/chats/{chat_id}/read', { params: { path: { chat_id: chatId } }, body: { ulid } });
      if (data) {
        onReadRef.current?.(data);
        return 'done';
      }
      // 404: delivered live a moment ago, not stored yet.
      return response.status === 404 || response.status >= 500 ? 'retry' : 'refused';
    };
    const m = readMarker(null, put);
    marker.current = m;
    return () => m.stop();
  }, [chatId]);

  // Sending (or retrying) brings the view back to the newest message.
  function send(content: string, clientUuid: string, quote?: ReplyTo) {
    stickToBottom.current = true;
    void chat.send(content, clientUuid, quote);
  }

  function reply(message: Message) {
    setReplyTo({ ulid: message.ulid, user_id: message.user_id, username: authorName(message), excerpt: excerpt(message.content), deleted: false });
    input.current?.focus();
  }

  const typingNames = typing.map((user) => names.get(user) ?? 'Someone');

  return (
    <section className="chat" aria-label={title || 'Untitled chat'}>
      <ChatHeader chatId={chatId} title={title || 'Untitled chat'} online={online} notifications={notifications} />
      {history.isError && <p className="error" role="alert">Could not load messages. <button type="button" onClick={() => void history.refetch()}>Try again</button></p>}
      <MessageList
        me={me}
        chatId={chatId}
        createdByMe={createdBy === me.user_id}
        chat={chat}
        stickToBottom={stickToBottom}
        unreadFrom={opened}
        onSeen={(ulid) => marker.current?.mark(ulid)}
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
      <p className="typing muted" aria-live="polite">{typingText(typingNames)}</p>
      <Composer
        input={input}
        replyTo={replyTo}
        onCancelReply={() => setReplyTo(null)}
        onTyping={(text) => sender.input(text)}
        onStop={() => sender.stop()}
        onSend={(content) => {
          sender.sent();
          send(content, crypto.randomUUID(), replyTo ?? undefined);
          setReplyTo(null);
        }}
      />
    </section>
  );
}
