// The live connection: the official centrifuge client against
// /connection/websocket (the embedded gateway, or Centrifugo in a cluster),
// authenticated with a connection token the API issues for the cookie session.
import { Centrifuge, UnauthorizedError, type Subscription } from 'centrifuge';
import { createContext, useContext } from 'react';
import { api } from './api/client';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

/** The page's one connection, for the views inside it. */
export const Live = createContext<Centrifuge | null>(null);
export const useLive = () => useContext(Live);

export function connect(onState: (state: ConnectionState) => void): Centrifuge {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const client = new Centrifuge(`${scheme}://${location.host}/connection/websocket`, {
    getToken: async () => {
      const { data, response } = await api.GET('/api/v1/realtime/token');
      if (data) return data.token;
      if (response.status === 401) throw new UnauthorizedError('signed out');
      throw new Error(`connection token: ${response.status}`);
    },
  });
  client.on('connecting', () => onState('connecting'));
  client.on('connected', () => onState('connected'));
  client.on('disconnected', () => onState('disconnected'));
  client.connect();
  return client;
}

/** Chat `chatId`'s channel, subscribed; one subscription shared by the rail
 *  (unread counts) and the open chat (messages). */
export function chatSubscription(client: Centrifuge, chatId: string): Subscription {
  const channel = `chat:${chatId}`;
  // Join and leave pushes feed presence (Centrifugo sends them only when asked).
  const subscription = client.getSubscription(channel) ?? client.newSubscription(channel, { joinLeave: true });
  if (subscription.state === 'unsubscribed') subscription.subscribe();
  return subscription;
}

/** Drops the chat subscriptions of chats no longer listed (left, deleted). */
export function keepChatSubscriptions(client: Centrifuge, chatIds: string[]): void {
  for (const subscription of Object.values(client.subscriptions())) {
    const chatId = subscription.channel.startsWith('chat:') ? subscription.channel.slice('chat:'.length) : undefined;
    if (chatId && !chatIds.includes(chatId)) client.removeSubscription(subscription);
  }
}
