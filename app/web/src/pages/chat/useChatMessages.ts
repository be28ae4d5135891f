import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { api, problem, type Message, type User } from '../../api/client';
import { chatSubscription, useLive } from '../../realtime';

/** A message this browser sent that the server has not acknowledged yet. */
export interface Pending {
  client_uuid: string;
  content: string;
  failed: boolean;
}

/** A chat's messages: history pages, what arrives live, and this browser's
 *  sends until the server acknowledges them. */
export function useChatMessages(me: User, chatId: string) {
  const client = useQueryClient();
  const live = useLive();
  const [arrived, setArrived] = useState<Message[]>([]);
  const [pending, setPending] = useState<Pending[]>([]);

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

  /** Sends (or retries) a message; it shows as pending until acknowledged. */
  async function send(content: string, clientUuid: string) {
    setPending((current) => [
      ...current.filter((p) => p.client_uuid !== clientUuid),
      { client_uuid: clientUuid, content, failed: false },
    ]);
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

  return { history, messages, pending, send };
}

export type ChatMessages = ReturnType<typeof useChatMessages>;
