import { useQuery, useQueryClient } from '@tanstack/react-query';
import type { Centrifuge } from 'centrifuge';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useLocation } from 'wouter';
import { api, problem, type Message, type Schemas, type User } from '../api/client';
import type { ChatItem } from '../api/contract';
import { isChange } from '../changes';
import { Live, chatSubscription, connect, keepChatSubscriptions, type ConnectionState } from '../realtime';
import { useTheme, type Theme } from '../theme';
import { useUnread } from '../unread';
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

  useEffect(() => {
    const centrifuge = connect(setState);
    centrifuge.on('publication', (ctx) => {
      if (!ctx.channel.startsWith('personal:')) return;
      const event = ctx.data as ChatListEvent;
      void client.invalidateQueries({ queryKey: ['chats'] });
      const gone = event.event_type === 'CHAT_DELETED' || (event.event_type === 'USER_LEFT' && event.payload.user_id === me.user_id);
      if (gone && event.aggregate_id === current.current) navigate('/chats');
    });
    setLive(centrifuge);
    return () => centrifuge.disconnect();
  }, [client, me.user_id, navigate]);

  const chats = useQuery({
    queryKey: ['chats'],
    queryFn: async () => {
      const { data, error } = await api.GET('/api/v1/users/me/chats');
      if (error) throw new Error(problem(error));
      return data.chats;
    },
  });

  // Every listed chat stays subscribed, so the rail counts unread messages.
  // A chat that appears while the app is open counts its newest page too
  // (messages sent before the subscription started).
  const { unread, onMessage, onChange, keep } = useUnread(me.user_id, chatId);
  const listedBefore = useRef<Set<string> | null>(null);
  useEffect(() => {
    if (!live || !chats.data) return;
    const ids = chats.data.map((chat) => chat.chat_id);
    const appeared = listedBefore.current ? ids.filter((id) => !listedBefore.current?.has(id)) : [];
    listedBefore.current = new Set(ids);
    keep(ids);
    keepChatSubscriptions(live, chatId ? [...ids, chatId] : ids);
    // Changes to messages share the channel (records with a `type`): never counted.
    const onPublication = (ctx: { data: unknown }) =>
      isChange(ctx.data) ? onChange(ctx.data) : onMessage(ctx.data as Message, current.current);
    const subscriptions = ids.map((id) => chatSubscription(live, id));
    subscriptions.forEach((subscription) => subscription.on('publication', onPublication));
    for (const id of appeared) {
      void api.GET('/api/v1/chats/{chat_id}', { params: { path: { chat_id: id } } }).then(({ data }) => {
        data?.messages.forEach((message) => onMessage(message, current.current));
      });
    }
    return () => subscriptions.forEach((subscription) => subscription.removeListener('publication', onPublication));
  }, [live, chats.data, chatId, keep, onMessage, onChange]);

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
              const count = unread[chat.chat_id]?.unread.length ?? 0;
              const title = chat.meta.title || 'Untitled chat';
              return (
                <li key={chat.chat_id}>
                  <Link
                    href={`/chats/${chat.chat_id}`}
                    aria-current={chat.chat_id === chatId ? 'page' : undefined}
                    aria-label={count > 0 ? `${title}, ${count} unread` : undefined}
                    className="chat-link"
                  >
                    <span className="title">{title}</span>
                    {count > 0 && <span className="badge" aria-hidden="true">{count > 99 ? '99+' : count}</span>}
                  </Link>
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
      <button className="button" type="button" onClick={logout}>Log out</button>
      <button className="button danger" type="button" onClick={closeAccount}>Delete account</button>
    </footer>
  );
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
