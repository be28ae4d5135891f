// Who is in a chat now: the gateway's presence of `chat:<id>` (each
// connection subscribed to it, with its user), kept live by join and leave
// pushes. A person is online while any of their devices is connected.
import type { Subscription } from 'centrifuge';
import { useEffect, useState } from 'react';
import { chatSubscription, useLive } from './realtime';

/** How often the list is read again: the gateway pushes joins and leaves
 *  only while a channel holds at most `realtime.join_leave_limit` clients
 *  (1,000), so on a bigger chat only this keeps the count current. */
export const PRESENCE_REFRESH_MS = 60_000;

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

/** The people online in chat `chatId`, or null while it is not known
 *  (connecting, or the gateway could not say). */
export function usePresence(chatId: string): string[] | null {
  const live = useLive();
  const [present, setPresent] = useState<Present | null>(null);
  useEffect(() => {
    if (!live) return;
    const subscription: Subscription = chatSubscription(live, chatId);
    // Joins and leaves heard while the list is read apply after it.
    let heard: Heard[] | null = null;
    let current = 0;
    const load = () => {
      const asked = ++current;
      heard = [];
      subscription.presence().then(
        (result) => {
          if (asked !== current) return;
          const listed = Object.fromEntries(Object.entries(result.clients).map(([client, info]) => [client, info.user]));
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
    const refresh = setInterval(() => subscription.state === 'subscribed' && load(), PRESENCE_REFRESH_MS);
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
  return present ? online(present) : null;
}
