import { useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { useLocation } from 'wouter';
import { api, problem, type Message, type User } from '../api/client';
import { chatSubscription, useLive } from '../realtime';
import { timeline } from '../timeline';
import { PeoplePicker } from './People';
import { Avatar } from './Avatar';

/** A message this browser sent that the server has not acknowledged yet. */
interface Pending {
  client_uuid: string;
  content: string;
  failed: boolean;
}

function time(timestamp: string): string {
  return new Date(timestamp).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function ChatView({ me, chatId, title }: { me: User; chatId: string; title?: string }) {
  const client = useQueryClient();
  const live = useLive();
  const [, navigate] = useLocation();
  const [arrived, setArrived] = useState<Message[]>([]);
  const [pending, setPending] = useState<Pending[]>([]);
  const [error, setError] = useState('');
  const list = useRef<HTMLOListElement>(null);
  const top = useRef<HTMLLIElement>(null);
  const stickToBottom = useRef(true);
  const fromBottom = useRef(0);

  const history = useInfiniteQuery({
    queryKey: ['history', chatId],
    initialPageParam: undefined as string | undefined,
    queryFn: async ({ pageParam }) => {
      const { data, error } = await api.GET('/api/v1/chats/{chat_id}', {
        params: { path: { chat_id: chatId }, query: pageParam ? { cursor: pageParam } : {} },
      });
      if (error) throw new Error(problem(error));
      return data;
    },
    getNextPageParam: (page) => page.next_cursor ?? undefined,
  });

  // Oldest first: history pages (newest first each), then what arrived live, each once.
  const messages = useMemo(() => {
    const seen = new Set<string>();
    const all: Message[] = [];
    const older = history.data?.pages.flatMap((page) => page.messages).reverse() ?? [];
    for (const message of [...older, ...arrived]) {
      if (seen.has(message.ulid)) continue;
      seen.add(message.ulid);
      all.push(message);
    }
    return all;
  }, [history.data, arrived]);

  useEffect(() => {
    if (!live) return;
    const subscription = chatSubscription(live, chatId);
    const onPublication = (ctx: { data: unknown }) => {
      const message = ctx.data as Message;
      setArrived((current) => [...current, message]);
      if (message.client_uuid) setPending((current) => current.filter((p) => p.client_uuid !== message.client_uuid));
    };
    // Missed messages that could not be recovered: reload history instead.
    const onSubscribed = (ctx: { wasRecovering: boolean; recovered: boolean }) => {
      if (ctx.wasRecovering && !ctx.recovered) void client.invalidateQueries({ queryKey: ['history', chatId] });
    };
    subscription.on('publication', onPublication);
    subscription.on('subscribed', onSubscribed);
    return () => {
      subscription.removeListener('publication', onPublication);
      subscription.removeListener('subscribed', onSubscribed);
    };
  }, [live, chatId, client]);

  // Older pages load when the top comes into view; the reader's place is kept.
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
  }, [messages.length, pending.length, history.data?.pages.length]);

  async function send(content: string, clientUuid: string) {
    setPending((current) => [
      ...current.filter((p) => p.client_uuid !== clientUuid),
      { client_uuid: clientUuid, content, failed: false },
    ]);
    stickToBottom.current = true;
    const { data } = await api
      .POST('/api/v1/chats/{chat_id}', { params: { path: { chat_id: chatId } }, body: { content, client_uuid: clientUuid } })
      .catch(() => ({ data: undefined }));
    if (data) {
      setArrived((current) => [...current, { ...data, author_metadata: { username: me.meta.username } }]);
      setPending((current) => current.filter((p) => p.client_uuid !== clientUuid));
    } else {
      setPending((current) => current.map((p) => (p.client_uuid === clientUuid ? { ...p, failed: true } : p)));
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key !== 'Enter' || event.shiftKey) return;
    event.preventDefault();
    const content = event.currentTarget.value;
    if (!content.trim()) return;
    event.currentTarget.value = '';
    void send(content, crypto.randomUUID());
  }

  async function leave() {
    if (!confirm('Leave this chat? You will stop seeing its messages.')) return;
    const { error } = await api.POST('/api/v1/chats/{chat_id}/leave', { params: { path: { chat_id: chatId } } });
    if (error) return setError(problem(error));
    await client.invalidateQueries({ queryKey: ['chats'] });
    navigate('/chats');
  }

  async function remove() {
    if (!confirm('Delete this chat for everyone? Its messages are deleted too.')) return;
    const { error } = await api.DELETE('/api/v1/chats/{chat_id}', { params: { path: { chat_id: chatId } } });
    if (error) return setError(problem(error));
    await client.invalidateQueries({ queryKey: ['chats'] });
    navigate('/chats');
  }

  return (
    <section className="chat" aria-label={title || 'Untitled chat'}>
      <header className="chat-head">
        <h1>{title || 'Untitled chat'}</h1>
        <Members chatId={chatId} />
        <button className="button" type="button" onClick={leave}>Leave chat</button>
        <button className="button danger" type="button" onClick={remove}>Delete chat</button>
      </header>
      {error && <p className="error" role="alert">{error}</p>}
      {history.isError && <p className="error" role="alert">Could not load messages. <button type="button" onClick={() => void history.refetch()}>Try again</button></p>}
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
          <li key={p.client_uuid} className={`message pending${p.failed ? ' failed' : ''}`}>
            <Avatar id={me.user_id} name={me.meta.username} />
            <div>
              <p className="meta">
                <strong>{me.meta.username}</strong> {p.failed ? 'Not sent' : 'Sending…'}
                {p.failed && (
                  <button type="button" className="link" onClick={() => void send(p.content, p.client_uuid)}>Retry</button>
                )}
              </p>
              <p className="content">{p.content}</p>
            </div>
          </li>
        ))}
        {messages.length === 0 && pending.length === 0 && history.isSuccess && <li className="muted edge">No messages yet. Say hello.</li>}
      </ol>
      <label className="composer">
        <span className="visually-hidden">Message</span>
        <textarea placeholder="Write a message (Enter sends, Shift+Enter adds a line)" rows={2} maxLength={4000} onKeyDown={onKeyDown} />
      </label>
    </section>
  );
}

/** The members dialog: who is in the chat, and adding people to it. */
function Members({ chatId }: { chatId: string }) {
  const client = useQueryClient();
  const dialog = useRef<HTMLDialogElement>(null);
  const [adding, setAdding] = useState<User[]>([]);
  const [error, setError] = useState('');
  const members = useQuery({
    queryKey: ['members', chatId],
    queryFn: async () => {
      const { data, error } = await api.GET('/api/v1/chats/{chat_id}/members', { params: { path: { chat_id: chatId } } });
      if (error) throw new Error(problem(error));
      return data.members;
    },
  });

  async function add() {
    const { error } = await api.POST('/api/v1/chats/{chat_id}/members', {
      params: { path: { chat_id: chatId } },
      body: { user_id_list: adding.map((u) => u.user_id) },
    });
    if (error) return setError(problem(error));
    setAdding([]);
    setError('');
    await client.invalidateQueries({ queryKey: ['members', chatId] });
  }

  return (
    <>
      <button className="button" type="button" onClick={() => { void members.refetch(); dialog.current?.showModal(); }}>
        Members
      </button>
      <dialog ref={dialog} className="card" aria-labelledby={`members-${chatId}`}>
        <div className="stack">
          <h2 id={`members-${chatId}`}>Members</h2>
          <ul className="member-list" aria-label="Members of this chat">
            {members.data?.map((m) => (
              <li key={m.user_id}>
                <Avatar id={m.user_id} name={m.meta.username} /> {m.meta.username} <span className="muted">{m.email}</span>
              </li>
            ))}
          </ul>
          <PeoplePicker chosen={adding} onChange={setAdding} max={10} exclude={members.data?.map((m) => m.user_id)} />
          {error && <p className="error" role="alert">{error}</p>}
          <div className="actions">
            <button className="button" type="button" onClick={() => dialog.current?.close()}>Close</button>
            <button className="button primary" type="button" disabled={adding.length === 0} onClick={() => void add()}>
              Add to chat
            </button>
          </div>
        </div>
      </dialog>
    </>
  );
}
