// "Ann is typing…": a typing publication on `chat:<id>` (`{"type": "typing",
// "active": true|false}`, the one client publication the gateway accepts; 5
// then 1 a second per connection) says a person started or stopped. Someone
// stays typing until they say they stopped, send a message, or say nothing
// more for TYPING_TTL_MS.
import { useEffect, useRef, useState } from 'react';
import type { Subscription } from 'centrifuge';
import { isChange } from './changes';
import { chatSubscription, useLive } from './realtime';

/** Someone who said they are typing and has said nothing since stops after this. */
export const TYPING_TTL_MS = 5000;
/** While typing goes on, "typing" is said again this often (before the TTL runs out). */
export const TYPING_REPEAT_MS = 3000;

export interface Typing {
  type: 'typing';
  active: boolean;
}

export const isTyping = (data: unknown): data is Typing =>
  typeof data === 'object' && data !== null && (data as Typing).type === 'typing' && typeof (data as Typing).active === 'boolean';

/** What this browser says while its person writes: `typing` when they start
 *  and every TYPING_REPEAT_MS after, `stopped` once when they clear the box
 *  or leave it. Sending says nothing: the message itself ends their typing
 *  for the others, and a `stopped` per message would spend the gateway's
 *  allowance (5, then 1 a second) that the next `typing` needs. */
export function typingSender(say: (active: boolean) => void, now: () => number = Date.now) {
  let active = false;
  let said = 0;
  return {
    input(text: string) {
      if (!text.trim()) return this.stop();
      if (active && now() - said < TYPING_REPEAT_MS) return;
      active = true;
      said = now();
      say(true);
    },
    /** Cleared or left: say so. */
    stop() {
      if (!active) return;
      active = false;
      say(false);
    },
    /** Sent: the message says it. */
    sent() {
      active = false;
    },
    /** `typing` was refused (over the allowance): say it again if still typing. */
    refused() {
      if (!active) return;
      said = now();
      say(true);
    },
  };
}

/** The gateway's error for a publication over the allowance. */
const TOO_MANY_REQUESTS = 111;

/** Who is typing: user id → when that stops unless they say more. */
export type Typists = Record<string, number>;

export function heard(typists: Typists, user: string, active: boolean, now: number): Typists {
  if (active) return { ...typists, [user]: now + TYPING_TTL_MS };
  return stopped(typists, user);
}

export function stopped(typists: Typists, user: string): Typists {
  if (!(user in typists)) return typists;
  const { [user]: _gone, ...rest } = typists;
  return rest;
}

/** Those still typing at `now`, in the order they started. */
export const typingAt = (typists: Typists, now: number): string[] =>
  Object.entries(typists).filter(([, until]) => until > now).map(([user]) => user);

/** The sentence: "" for nobody, "Ann is typing…", "Ann and Bob are typing…",
 *  "Ann, Bob and Cid are typing…", "Several people are typing…". */
export function typingText(names: string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length <= 3) return `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
  return 'Several people are typing…';
}

/** Others typing in chat `chatId` (never `me`, on any of my devices), and
 *  what this browser says while `me` writes. */
export function useTyping(chatId: string, me: string) {
  const live = useLive();
  const [typists, setTypists] = useState<Typists>({});
  const [now, setNow] = useState(() => Date.now());
  const subscription = useRef<Subscription | null>(null);
  const [sender] = useState(() => {
    const say = (active: boolean) => {
      const typing: Typing = { type: 'typing', active };
      // Over the allowance a `typing` is said again a second later; a refused
      // `stopped` is left to the others' TTL.
      subscription.current?.publish(typing).catch((error: { code?: number }) => {
        if (active && error.code === TOO_MANY_REQUESTS) setTimeout(() => sender.refused(), 1000);
      });
    };
    const sender = typingSender(say);
    return sender;
  });

  useEffect(() => {
    if (!live) return;
    const sub = chatSubscription(live, chatId);
    subscription.current = sub;
    const onPublication = (ctx: { data: unknown; info?: { user: string } }) => {
      const { data } = ctx;
      if (isChange(data)) return;
      // A typing publication carries its publisher; a message from them ends their typing.
      const user = isTyping(data) ? ctx.info?.user : (data as { user_id?: string } | null)?.user_id;
      if (!user || user === me) return;
      setTypists((t) => (isTyping(data) ? heard(t, user, data.active, Date.now()) : stopped(t, user)));
      setNow(Date.now());
    };
    sub.on('publication', onPublication);
    return () => {
      sub.removeListener('publication', onPublication);
      sender.stop();
      subscription.current = null;
    };
  }, [live, chatId, me, sender]);

  // Wakes when the first of them stops by silence.
  const active = typingAt(typists, now);
  const next = Math.min(...active.map((user) => typists[user]!));
  useEffect(() => {
    if (!Number.isFinite(next)) return;
    const timer = setTimeout(() => setNow(Date.now()), Math.max(0, next - Date.now()));
    return () => clearTimeout(timer);
  }, [next]);

  return { typing: active, sender };
}
