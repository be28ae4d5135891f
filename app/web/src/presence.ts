// Who is in a chat now: the gateway's presence of `chat:<id>` (each
// connection subscribed to it, with its user), kept live by join and leave
// pushes. A person is online while any of their devices is connected.
import type { Subscription } from 'centrifuge';
import { useEffect, useState } from 'react';
import { chatSubscription, useLive } from './realtime';

/** The gateway pushes joins and leaves only while a channel holds at most
 *  `realtime.join_leave_limit` clients (1,000 by default): on a chat that
 *  big, the count is read again (presence stats: two numbers, not the list)
 *  every `PRESENCE_REFRESH_MS`. */
export const BIG_CHAT_CLIENTS = 1000;
export const PRESENCE_REFRESH_MS = 60_000;

/** Who is online in a chat: the people (null: not known), and how many
 *  (in a big chat, from presence stats; the people may then be stale). */
export type Online = { people: string[] | null; count: number | null };

/** Connections on the channel: client id → user id. */
export type Present = Record<string, string>;

export const joined = (present: Present, client: string, user: string): Present =>
  present[client] === user ? present : { ...present, [client]: user };

export function left(present: Present, client: string): Present {
  if (!(client in present)) return present;
  const { [client]: _gone, ...rest } = present;
  return rest;
}

/** The people online (each once, whatever their number of devices). */
export const online = (present: Present): string[] => [...new Set(Object.values(present))];

type Heard = { kind: 'join' | 'leave'; client: string; user: string };

/** `present` with what was heard while it was being read applied after it. */
export const replay = (present: Present, heard: Heard[]): Present =>
  heard.reduce((p, h) => (h.kind === 'join' ? joined(p, h.client, h.user) : left(p, h.client)), present);

/** Who is online in chat `chatId`; null while it is not known
 *  (connecting, or the gateway could not say). */
export function usePresence(chatId: string): Online {
  const live = useLive();
  const [present, setPresent] = useState<Present | null>(null);
  const [stats, setStats] = useState<number | null>(null);
  useEffect(() => {
    if (!live) return;
    const subscription: Subscription = chatSubscription(live, chatId);
    // Joins and leaves heard while the list is read apply after it.
    let heard: Heard[] | null = null;
    let current = 0;
    let big = false;
    const load = () => {
      const asked = ++current;
      heard = [];
      subscription.presence().then(
        (result) => {
          if (asked !== current) return;
          const listed = Object.fromEntries(Object.entries(result.clients).map(([client, info]) => [client, info.user]));
          big = Object.keys(listed).length >= BIG_CHAT_CLIENTS;
          setStats(null);
          setPresent(replay(listed, heard ?? []));
          heard = null;
        },
        () => asked === current && setPresent(null),
      );
    };
    const hear = (kind: Heard['kind']) => (ctx: { info: { client: string; user: string } }) => {
      const h = { kind, client: ctx.info.client, user: ctx.info.user };
      if (heard) heard.push(h);
      else setPresent((p) => (p ? replay(p, [h]) : p));
    };
    const onJoin = hear('join');
    const onLeave = hear('leave');
    const onGone = () => {
      current += 1;
      setPresent(null);
    };
    subscription.on('subscribed', load);
    subscription.on('subscribing', onGone);
    subscription.on('unsubscribed', onGone);
    subscription.on('join', onJoin);
    subscription.on('leave', onLeave);
    if (subscription.state === 'subscribed') load();
    const recount = () => {
      if (subscription.state !== 'subscribed' || heard || !big) return;
      const asked = current;
      subscription.presenceStats().then(
        (result) => asked === current && setStats(result.numUsers),
        () => {},
      );
    };
    const refresh = setInterval(recount, PRESENCE_REFRESH_MS);
    return () => {
      clearInterval(refresh);
      current += 1;
      subscription.removeListener('subscribed', load);
      subscription.removeListener('subscribing', onGone);
      subscription.removeListener('unsubscribed', onGone);
      subscription.removeListener('join', onJoin);
      subscription.removeListener('leave', onLeave);
    };
  }, [live, chatId]);
  const people = present ? online(present) : null;
  return { people, count: stats ?? people?.length ?? null };
}
