import { useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import type { Centrifuge } from 'centrifuge';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useLocation } from 'wouter';
import { api, problem, type Message, type Schemas, type User } from '../api/client';
import type { ChatItem } from '../api/contract';
import { isChange } from '../changes';
import { dismiss, notifyHidden, useNotificationPermission, type Level } from '../notify';
import { Live, chatSubscription, connect, keepChatSubscriptions, type ConnectionState } from '../realtime';
import { useTheme, type Theme } from '../theme';
import { isTyping } from '../typing';
import { railCounts, shown, useUnread } from '../unread';
import { Avatar } from './Avatar';
import { ChatView } from './ChatView';
import { PeoplePicker } from './People';


/** Chat-list events on the personal channel: the outbox event, typed from the server's definition. */
type ChatListEvent = Schemas['ChatListEvent'];

export function ChatsPage({ me, chatId }: { me: User; chatId?: string }) {
  const client = useQueryClient();
  const [, navigate] = useLocation();
  const [live, setLive] = useState<Centrifuge | null>(null);
  const [state, setState] = useState<ConnectionState>('connecting');
  const current = useRef(chatId);
  current.current = chatId;

  const { unread, onMessage, onChange, onCounts, keep, onMissed } = useUnread(me.user_id);

  useEffect(() => {
    const centrifuge = connect(setState);
    centrifuge.on('publication', (ctx) => {
      if (!ctx.channel.startsWith('personal:')) return;
      const event = ctx.data as ChatListEvent;
      // My read position or notification choice, from this or another device.
      // What was read, muted or left no longer waits on screen.
      if (event.event_type === 'CHAT_READ') {
        dismiss(event.aggregate_id);
        return onCounts(event.aggregate_id, event.payload);
      }
      if (event.event_type === 'CHAT_NOTIFICATIONS_SET') {
        if (event.payload.notifications === 'muted') dismiss(event.aggregate_id);
        return setLevel(client, event.aggregate_id, event.payload.notifications);
      }
      void client.invalidateQueries({ queryKey: ['chats'] });
      const gone = event.event_type === 'CHAT_DELETED' || (event.event_type === 'USER_LEFT' && event.payload.user_id === me.user_id);
      if (gone) dismiss(event.aggregate_id);
      if (gone && event.aggregate_id === current.current) navigate('/chats');
    });
    setLive(centrifuge);
    return () => centrifuge.disconnect();
  }, [client, me.user_id, navigate, onCounts]);

  const chats = useQuery({
    queryKey: ['chats'],
    queryFn: async () => {
      const { data, error } = await api.GET('/api/v1/users/me/chats');
      if (error) throw new Error(problem(error));
      return data.chats;
    },
  });

  // Every listed chat stays subscribed: the rail adds live messages to the
  // server's counts, and a message notifies while the tab is hidden.
  const listedChats = useRef<ChatItem[]>([]);
  listedChats.current = chats.data ?? [];
  useEffect(() => {
    if (chats.data) keep(chats.data);
  }, [chats.data, keep]);
  const ids = chats.data?.map((chat) => chat.chat_id).join(' ');
  useEffect(() => {
    if (!live || ids === undefined) return;
    const listed = ids ? ids.split(' ') : [];
    keepChatSubscriptions(live, chatId ? [...listed, chatId] : listed);
    const subscriptions = listed.map((id) => {
      const subscription = chatSubscription(live, id);
      // Changes to messages share the channel (records with a `type`), and
      // typing publications too: neither is a message.
      const onPublication = (ctx: { data: unknown }) => {
        if (isTyping(ctx.data)) return;
        if (isChange(ctx.data)) return onChange(ctx.data);
        const message = ctx.data as Message;
        onMessage(message, current.current);
        const chat = listedChats.current.find((c) => c.chat_id === message.chat_id);
        if (chat) notifyHidden(message, me.user_id, chat.notifications, chat.meta.title || 'Untitled chat', (to) => navigate(`/chats/${to}`));
      };
      // Messages missed that the channel could not recover: the server counts again.
      const onSubscribed = (ctx: { wasRecovering: boolean; recovered: boolean }) => {
        if (ctx.wasRecovering && !ctx.recovered) {
          onMissed(id);
          void client.invalidateQueries({ queryKey: ['chats'] });
        }
      };
      subscription.on('publication', onPublication);
      subscription.on('subscribed', onSubscribed);
      return () => {
        subscription.removeListener('publication', onPublication);
        subscription.removeListener('subscribed', onSubscribed);
      };
    });
    return () => subscriptions.forEach((stop) => stop());
  }, [live, ids, chatId, client, me.user_id, navigate, onMessage, onChange, onMissed]);

  const open: ChatItem | undefined = chats.data?.find((c) => c.chat_id === chatId);

  return (
    <Live.Provider value={live}>
      <div className="shell">
        <nav className="rail" aria-label="Chats">
          <header className="rail-head">
            <span className="brand-mark small" aria-hidden="true">H</span>
            <strong>Harmony</strong>
            <span className={`connection ${state}`} role="status" aria-label={`Connection: ${state}`} title={state} />
          </header>
          <NewChat onCreated={(id) => navigate(`/chats/${id}`)} />
          {chats.isError && <p className="error" role="alert">Could not load your chats.</p>}
          {chats.data?.length === 0 && <p className="muted">No chats yet.</p>}
          <ul className="chat-list">
            {chats.data?.map((chat) => {
              // The open chat is being read: no count.
              const counts = chat.chat_id === chatId ? { unread: 0, mentions: 0 } : shown(unread[chat.chat_id]);
              const muted = chat.notifications === 'muted';
              const title = chat.meta.title || 'Untitled chat';
              return (
                <li key={chat.chat_id} className="chat-item">
                  {/* The name says the counts; the badges beside it show them
                      (outside the link, so its visible text is its title). */}
                  <Link
                    href={`/chats/${chat.chat_id}`}
                    aria-current={chat.chat_id === chatId ? 'page' : undefined}
                    aria-label={`${title}${railCounts(counts, muted)}`}
                    className={`chat-link${counts.unread > 0 && !muted ? ' unread' : ''}${muted ? ' muted-chat' : ''}`}
                  >
                    <span className="title">{title}</span>
                  </Link>
                  <span className="rail-badges" aria-hidden="true">
                    {counts.mentions > 0 && (
                      <span className={`badge mention${muted ? ' quiet' : ''}`} title={`${counts.mentions} mentions`}>@{counts.mentions > 99 ? '99+' : counts.mentions}</span>
                    )}
                    {counts.unread > 0 && <span className={`badge${muted ? ' quiet' : ''}`}>{counts.unread > 99 ? '99+' : counts.unread}</span>}
                  </span>
                </li>
              );
            })}
          </ul>
          <Account me={me} />
        </nav>
        <main className="panel">
          {chatId ? (
            <ChatView
              key={chatId}
              me={me}
              chatId={chatId}
              title={open?.meta.title ?? undefined}
              createdBy={open?.created_by}
              notifications={open?.notifications}
              position={open && unread[chatId] ? { lastRead: unread[chatId].base.last_read ?? null, unread: shown(unread[chatId]).unread } : undefined}
              onRead={(counts) => onCounts(chatId, counts)}
            />
          ) : (
            <div className="centered muted">
              <p>Pick a chat, or start a new one.</p>
            </div>
          )}
        </main>
      </div>
    </Live.Provider>
  );
}

function Account({ me }: { me: User }) {
  const client = useQueryClient();
  const [, navigate] = useLocation();
  const [theme, setTheme] = useTheme();
  function signedOut() {
    dismiss();
    client.clear();
    client.setQueryData(['me'], null);
    navigate('/');
  }
  async function logout() {
    await api.DELETE('/api/v1/auth/session');
    signedOut();
  }
  async function closeAccount() {
    if (!confirm('Delete your account? You are signed out everywhere and cannot sign in again.')) return;
    const { error } = await api.DELETE('/api/v1/users/me');
    if (error) return alert(problem(error));
    await api.DELETE('/api/v1/auth/session');
    signedOut();
  }
  return (
    <footer className="account">
      <Avatar id={me.user_id} name={me.meta.username} />
      <span className="name" title={me.email}>{me.meta.username}</span>
      <label className="theme">
        <span className="visually-hidden">Theme</span>
        <select value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
          <option value="system">System</option>
          <option value="light">Light</option>
          <option value="dark">Dark</option>
        </select>
      </label>
      <BrowserNotifications />
      <button className="button" type="button" onClick={logout}>Log out</button>
      <button className="button danger" type="button" onClick={closeAccount}>Delete account</button>
    </footer>
  );
}

/** Browser notifications: a button asks for the permission; then whether they are on. */
function BrowserNotifications() {
  const { permission, ask } = useNotificationPermission();
  if (permission === 'unsupported') return null;
  if (permission === 'default') {
    return <button className="button" type="button" onClick={() => void ask()}>Enable notifications</button>;
  }
  return <span className="muted small" role="status">{permission === 'granted' ? 'Notifications on' : 'Notifications blocked'}</span>;
}

/** Sets chat `chatId`'s notification choice in the chat list (the server said, or I chose). */
export function setLevel(client: QueryClient, chatId: string, notifications: Level) {
  client.setQueryData<ChatItem[]>(['chats'], (chats) => chats?.map((chat) => (chat.chat_id === chatId ? { ...chat, notifications } : chat)));
}

/** The create-chat dialog: title, description, members found by e-mail. */
function NewChat({ onCreated }: { onCreated: (chatId: string) => void }) {
  const client = useQueryClient();
  const dialog = useRef<HTMLDialogElement>(null);
  const [members, setMembers] = useState<User[]>([]);
  const [error, setError] = useState('');

  async function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const element = event.currentTarget;
    const form = new FormData(element);
    const title = String(form.get('title')).trim();
    const description = String(form.get('description')).trim();
    const { data, error } = await api.POST('/api/v1/chats/', {
      body: { title: title || null, description: description || null, user_id_list: members.map((m) => m.user_id) },
    });
    if (error) return setError(problem(error));
    dialog.current?.close();
    setMembers([]);
    element.reset();
    await client.invalidateQueries({ queryKey: ['chats'] });
    onCreated(data.chat_id);
  }

  return (
    <>
      <button className="button primary wide" type="button" onClick={() => dialog.current?.showModal()}>New chat</button>
      <dialog ref={dialog} className="card" aria-labelledby="new-chat-title">
        <form onSubmit={create} className="stack">
          <h2 id="new-chat-title">New chat</h2>
          <label>
            Title
            <input name="title" maxLength={100} />
          </label>
          <label>
            Description
            <textarea name="description" maxLength={500} rows={2} />
          </label>
          {/* The server counts the creator: at most nine others. */}
          <PeoplePicker chosen={members} onChange={setMembers} max={9} />
          {error && <p className="error" role="alert">{error}</p>}
          <div className="actions">
            <button className="button" type="button" onClick={() => dialog.current?.close()}>Cancel</button>
            <button className="button primary" type="submit">Create chat</button>
          </div>
        </form>
      </dialog>
    </>
  );
}
