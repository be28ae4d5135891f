import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { api, problem, type Message, type User } from '../../api/client';
import type { Action, MessageChange, ReplyTo } from '../../api/contract';
import { isChange, withChanges, type Snapshot } from '../../changes';
import { chatSubscription, useLive } from '../../realtime';
import { isTyping } from '../../typing';

/** A message this browser sent that the server has not acknowledged yet. */
export interface Pending {
  client_uuid: string;
  content: string;
  reply_to?: ReplyTo;
  failed: boolean;
}

const FAILED: Record<Action['type'], string> = {
  message_edited: 'Could not edit the message',
  message_deleted: 'Could not delete the message',
  reaction_added: 'Could not add the reaction',
  reaction_removed: 'Could not remove the reaction',
};

/** A chat's messages as they are now: history pages and what arrives live
 *  (each a snapshot), the changes logged on the chat's channel since, and
 *  this browser's sends and changes until the server acknowledges them. */
export function useChatMessages(me: User, chatId: string) {
  const client = useQueryClient();
  const live = useLive();
  // Changes seen on `chat:<id>` (or acknowledged to this browser), in log
  // order, each once. A snapshot records how many had been seen when it was
  // taken; the later ones are applied to it. History pages cached by an
  // earlier view of this chat (another `logId`) get them all.
  const [logId] = useState(() => crypto.randomUUID());
  const logRef = useRef<MessageChange[]>([]);
  const [log, setLog] = useState<MessageChange[]>([]);
  const [arrived, setArrived] = useState<Snapshot[]>([]);
  const [pending, setPending] = useState<Pending[]>([]);
  const [unconfirmed, setUnconfirmed] = useState<MessageChange[]>([]);
  const [actionError, setActionError] = useState('');

  const history = useInfiniteQuery({
    queryKey: ['history', chatId],
    initialPageParam: undefined as string | undefined,
    queryFn: async ({ pageParam }) => {
      const seen = { log: logId, from: logRef.current.length };
      const { data, error } = await api.GET('/api/v1/chats/{chat_id}', {
        params: { path: { chat_id: chatId }, query: pageParam ? { cursor: pageParam } : {} },
      });
      if (error) throw new Error(problem(error));
      return { ...data, seen };
    },
    getNextPageParam: (page) => page.next_cursor ?? undefined,
  });

  // Oldest first: history pages (newest first each), then what arrived live, each once.
  const messages = useMemo(() => {
    const seen = new Set<string>();
    const snapshots: Snapshot[] = [];
    const older =
      history.data?.pages
        .flatMap((page) => page.messages.map((message) => ({ message, from: page.seen.log === logId ? page.seen.from : 0 })))
        .reverse() ?? [];
    for (const snapshot of [...older, ...arrived]) {
      if (seen.has(snapshot.message.ulid)) continue;
      seen.add(snapshot.message.ulid);
      snapshots.push(snapshot);
    }
    return withChanges(snapshots, log, unconfirmed);
  }, [history.data, arrived, log, unconfirmed, logId]);

  /** A change the server logged: folded in once, replacing its optimistic copy. */
  function logged(change: MessageChange) {
    if (!logRef.current.some((c) => c.change_id === change.change_id)) {
      logRef.current = [...logRef.current, change];
      setLog(logRef.current);
    }
    if (change.client_uuid) setUnconfirmed((current) => current.filter((c) => c.client_uuid !== change.client_uuid));
  }
  const loggedRef = useRef(logged);
  loggedRef.current = logged;

  function arrive(message: Message) {
    setArrived((current) => [...current, { message, from: logRef.current.length }]);
    if (message.client_uuid) setPending((current) => current.filter((p) => p.client_uuid !== message.client_uuid));
  }
  const arriveRef = useRef(arrive);
  arriveRef.current = arrive;

  useEffect(() => {
    if (!live) return;
    const subscription = chatSubscription(live, chatId);
    // Changes are records with a `type` on the same channel: folded in,
    // never shown as messages; typing publications are not messages either.
    const onPublication = (ctx: { data: unknown }) => {
      if (isTyping(ctx.data)) return;
      if (isChange(ctx.data)) loggedRef.current(ctx.data);
      else arriveRef.current(ctx.data as Message);
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

  /** Sends (or retries) a message; it shows as pending until acknowledged. */
  async function send(content: string, clientUuid: string, replyTo?: ReplyTo) {
    setPending((current) => [
      ...current.filter((p) => p.client_uuid !== clientUuid),
      { client_uuid: clientUuid, content, reply_to: replyTo, failed: false },
    ]);
    const { data } = await api
      .POST('/api/v1/chats/{chat_id}', {
        params: { path: { chat_id: chatId } },
        body: { content, client_uuid: clientUuid, ...(replyTo ? { reply_to: replyTo.ulid } : {}) },
      })
      .catch(() => ({ data: undefined }));
    if (data) {
      arrive({ ...data, author_metadata: { username: me.meta.username } });
    } else {
      setPending((current) => current.map((p) => (p.client_uuid === clientUuid ? { ...p, failed: true } : p)));
    }
  }

  /** Edits, deletes or reacts: shown at once, undone with a message if the server refuses. */
  async function act(target: Message, action: Action) {
    const clientUuid = crypto.randomUUID();
    const optimistic = {
      ...action,
      chat_id: chatId,
      ulid: target.ulid,
      change_id: '',
      client_uuid: clientUuid,
      user_id: me.user_id,
      timestamp: new Date().toISOString(),
    } as MessageChange;
    setActionError('');
    setUnconfirmed((current) => [...current, optimistic]);
    const { data, error } = await request(chatId, target.ulid, action, clientUuid).catch(() => ({
      data: undefined,
      error: undefined,
    }));
    if (data) return logged(data);
    setUnconfirmed((current) => current.filter((c) => c.client_uuid !== clientUuid));
    setActionError(`${FAILED[action.type]}: ${problem(error, 'the server could not be reached; try again.')}`);
  }

  return { history, messages, pending, send, act, actionError, notify: setActionError };
}

/** The route for each action (the contract's REST calls). */
function request(chatId: string, ulid: string, action: Action, clientUuid: string) {
  const query = { client_uuid: clientUuid };
  switch (action.type) {
    case 'message_edited':
      return api.PATCH('/api/v1/chats/{chat_id}/messages/{ulid}', {
        params: { path: { chat_id: chatId, ulid } },
        body: { content: action.content, client_uuid: clientUuid },
      });
    case 'message_deleted':
      return api.DELETE('/api/v1/chats/{chat_id}/messages/{ulid}', { params: { path: { chat_id: chatId, ulid }, query } });
    case 'reaction_added':
      return api.PUT('/api/v1/chats/{chat_id}/messages/{ulid}/reactions/{emoji}', {
        params: { path: { chat_id: chatId, ulid, emoji: action.emoji }, query },
      });
    case 'reaction_removed':
      return api.DELETE('/api/v1/chats/{chat_id}/messages/{ulid}/reactions/{emoji}', {
        params: { path: { chat_id: chatId, ulid, emoji: action.emoji }, query },
      });
  }
}

export type ChatMessages = ReturnType<typeof useChatMessages>;
