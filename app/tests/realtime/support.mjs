// Helpers for the gateway tests: the REST API over fetch, the official
// centrifuge client on `ws`, and a raw protocol client for what the SDK
// would never send.
import { createHmac, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';

export const URLS = (process.env.HARMONY_URLS ?? 'http://127.0.0.1:8000').split(',');
export const BASE = URLS[0];
export const wsUrl = (base = BASE) => base.replace(/^http/, 'ws') + '/connection/websocket';

export async function api(path, { method = 'GET', token, body, form } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    payload = new URLSearchParams(form).toString();
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  // A bounded wait: a hang names the request instead of stalling the file.
  const signal = AbortSignal.timeout(15_000);
  const response = await fetch(BASE + path, { method, headers, body: payload, signal });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

export async function expectStatus(call, status) {
  const reply = await call;
  if (reply.status !== status) {
    throw new Error(`expected ${status}, got ${reply.status}: ${JSON.stringify(reply.body)}`);
  }
  return reply.body;
}

/** Signs up and logs in a fresh user: { id, name, access }. */
export async function user(name) {
  const email = `${name}-${randomUUID()}@example.com`;
  const password = 'correct horse battery';
  const created = await expectStatus(
    api('/api/v1/users/', { method: 'POST', body: { username: name, email, password } }),
    201,
  );
  const tokens = await expectStatus(
    api('/api/v1/auth/token', { method: 'POST', form: { username: email, password } }),
    200,
  );
  return { id: created.user_id, name, access: tokens[0].token };
}

export async function chat(owner, members) {
  const created = await expectStatus(
    api('/api/v1/chats/', {
      method: 'POST',
      token: owner.access,
      body: { title: 'Team', description: null, user_id_list: members.map((m) => m.id) },
    }),
    201,
  );
  return created.chat_id;
}

/** Sends over REST; resolves with the record subscribers get (the reply plus its author). */
export async function send(author, chatId, content, clientUuid = randomUUID()) {
  const sent = await expectStatus(
    api(`/api/v1/chats/${chatId}`, {
      method: 'POST',
      token: author.access,
      body: { content, client_uuid: clientUuid },
    }),
    201,
  );
  return { ...sent, author_metadata: { username: author.name } };
}

export async function connectionToken(who) {
  return (await expectStatus(api('/api/v1/realtime/token', { token: who.access }), 200)).token;
}

/** An HS256 connection token made here, for expiries the API would not issue. */
export function forgeToken(userId, expiresInSeconds) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: userId, iat: now, exp: now + expiresInSeconds })}`;
  const signature = createHmac('sha256', process.env.REALTIME_TOKEN_SECRET)
    .update(unsigned)
    .digest('base64url');
  return `${unsigned}.${signature}`;
}

/** The official client; `cookie` sends the access token the way a browser does. */
export function centrifuge({ base = BASE, token, getToken, cookie } = {}) {
  const websocket = cookie
    ? class extends WebSocket {
        constructor(url, protocols) {
          super(url, protocols, { headers: { cookie: `access_token=${cookie}` } });
        }
      }
    : WebSocket;
  const client = new Centrifuge(wsUrl(base), {
    websocket,
    token,
    getToken,
    minReconnectDelay: 50,
    maxReconnectDelay: 500,
  });
  return client;
}

/** Resolves with the first `event` whose context passes `test`. */
export function next(emitter, event, test = () => true, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, listener);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    function listener(ctx) {
      if (!test(ctx)) return;
      clearTimeout(timer);
      emitter.removeListener(event, listener);
      resolve(ctx);
    }
    emitter.on(event, listener);
  });
}

/** Collects every `event` context into an array. */
export function collect(emitter, event) {
  const seen = [];
  emitter.on(event, (ctx) => seen.push(ctx));
  return seen;
}

/** Waits until `condition()` holds. */
export async function until(condition, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `promise`, or a failure naming `what` after `ms`. */
export async function within(promise, what, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting until ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A raw protocol client: send frames, read replies, see the close code.
 *  It answers server pings like the SDK unless `pong` is false. */
export class Raw {
  constructor({ base = BASE, headers = {}, pong = true } = {}) {
    this.socket = new WebSocket(wsUrl(base), { headers });
    this.replies = [];
    this.closed = once(this.socket, 'close').then(([code, reason]) => ({ code, reason: reason.toString() }));
    this.socket.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        if (!line) continue;
        this.replies.push(JSON.parse(line));
        if (line === '{}' && pong) this.socket.send('{}');
      }
    });
    this.socket.on('error', () => {});
  }

  async open(ms = 10_000) {
    await within(once(this.socket, 'open'), 'the WebSocket opened', ms);
    return this;
  }

  /** The close code and reason, failing after `ms` if the connection stays open. */
  closedWithin(ms = 15_000) {
    return within(this.closed, 'the connection closed', ms);
  }

  send(frame) {
    this.socket.send(frame);
  }

  command(command) {
    this.send(JSON.stringify(command));
  }

  async reply(id, ms = 10_000) {
    await until(() => this.replies.some((r) => r.id === id), `reply ${id}`, ms);
    return this.replies.find((r) => r.id === id);
  }
}
