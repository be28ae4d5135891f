// Helpers for the gateway tests: the REST API over fetch, the official
// centrifuge client on `ws`, and a raw protocol client for what the SDK
// would never send. Every file runs in the format CENTRIFUGE_FORMAT names:
// `json` (the default build) or `protobuf` (the SDK's protobuf build).
import { createHmac, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Centrifuge as JsonCentrifuge } from 'centrifuge';
import { Centrifuge as ProtobufCentrifuge } from 'centrifuge/build/protobuf';
import protobuf from 'protobufjs';
import WebSocket from 'ws';

export const FORMAT = process.env.CENTRIFUGE_FORMAT ?? 'json';
if (!['json', 'protobuf'].includes(FORMAT)) throw new Error(`unknown CENTRIFUGE_FORMAT ${FORMAT}`);
const Centrifuge = FORMAT === 'protobuf' ? ProtobufCentrifuge : JsonCentrifuge;

/** A publication's data as JSON: the SDK gives it parsed in JSON, as bytes in protobuf. */
export function data(publication) {
  return FORMAT === 'protobuf' ? JSON.parse(Buffer.from(publication.data).toString()) : publication.data;
}

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

// The raw client's Protobuf messages: the fields these tests use, numbered as
// in Centrifugo's client.proto, plus `teleport`, a method the protocol lacks.
const schema = protobuf.Root.fromJSON({
  nested: {
    Command: {
      fields: {
        id: { type: 'uint32', id: 1 },
        connect: { type: 'ConnectRequest', id: 4 },
        subscribe: { type: 'ChannelRequest', id: 5 },
        presence: { type: 'ChannelRequest', id: 8 },
        refresh: { type: 'ConnectRequest', id: 14 },
        teleport: { type: 'Teleport', id: 99 },
      },
    },
    ConnectRequest: { fields: { token: { type: 'string', id: 1 } } },
    ChannelRequest: { fields: { channel: { type: 'string', id: 1 } } },
    Teleport: { fields: { to: { type: 'string', id: 1 } } },
    Reply: {
      fields: {
        id: { type: 'uint32', id: 1 },
        error: { type: 'Error', id: 2 },
        push: { type: 'Push', id: 4 },
        connect: { type: 'ConnectResult', id: 5 },
        subscribe: { type: 'SubscribeResult', id: 6 },
        presence: { type: 'PresenceResult', id: 9 },
        refresh: { type: 'ConnectResult', id: 14 },
      },
    },
    PresenceResult: { fields: { presence: { keyType: 'string', type: 'ClientInfo', id: 1 } } },
    ClientInfo: { fields: { user: { type: 'string', id: 1 }, client: { type: 'string', id: 2 } } },
    Error: {
      fields: {
        code: { type: 'uint32', id: 1 },
        message: { type: 'string', id: 2 },
        temporary: { type: 'bool', id: 3 },
      },
    },
    Push: { fields: { channel: { type: 'string', id: 2 } } },
    ConnectResult: {
      fields: {
        client: { type: 'string', id: 1 },
        expires: { type: 'bool', id: 3 },
        ttl: { type: 'uint32', id: 4 },
        ping: { type: 'uint32', id: 7 },
        pong: { type: 'bool', id: 8 },
      },
    },
    SubscribeResult: {
      fields: {
        recoverable: { type: 'bool', id: 3 },
        epoch: { type: 'string', id: 6 },
        offset: { type: 'uint64', id: 9 },
      },
    },
  },
});
const Command = schema.lookupType('Command');
const Reply = schema.lookupType('Reply');

/** Encodes commands and decodes replies in FORMAT: JSON lines, or
 *  length-delimited Protobuf messages in binary frames. */
const codec = {
  json: {
    encode: (command) => JSON.stringify(command),
    decode: (frame) => frame.toString().split('\n').filter((line) => line).map((line) => JSON.parse(line)),
  },
  protobuf: {
    encode: (command) => Command.encodeDelimited(Command.fromObject(command)).finish(),
    decode(frame) {
      const reader = protobuf.Reader.create(new Uint8Array(frame));
      const replies = [];
      while (reader.pos < reader.len) {
        replies.push(Reply.toObject(Reply.decodeDelimited(reader), { longs: Number }));
      }
      return replies;
    },
  },
}[FORMAT];

/** Frames each format refuses with 3501: what the frame is, and the frame. */
export const MALFORMED = {
  json: [
    ['a truncated object', '{"id":1,"connect":'],
    ['an array', '[1,2]'],
    ['a channel that is a number', '{"id":2,"subscribe":{"channel":7}}'],
    ['bytes that are not JSON', Buffer.from([1, 2, 3])],
    ['an empty frame', ''],
  ],
  protobuf: [
    ['a length past the frame', Buffer.from([5, 0x08])],
    ['a truncated varint', Buffer.from([0x80])],
    ['subscribe as a varint', Buffer.from([2, 0x28, 0x07])],
    ['a JSON command', '{"id":2,"subscribe":{"channel":"x"}}'],
    ['an empty frame', Buffer.alloc(0)],
  ],
}[FORMAT];

/** A raw protocol client: send frames, read replies, see the close code.
 *  It answers server pings like the SDK unless `pong` is false. In protobuf
 *  it asks for the format with `?cf_protocol=protobuf` (the SDKs use the
 *  WebSocket subprotocol), so both ways are exercised. */
export class Raw {
  constructor({ base = BASE, headers = {}, pong = true } = {}) {
    const url = wsUrl(base) + (FORMAT === 'protobuf' ? '?cf_protocol=protobuf' : '');
    this.socket = new WebSocket(url, { headers });
    this.replies = [];
    this.closed = once(this.socket, 'close').then(([code, reason]) => ({ code, reason: reason.toString() }));
    this.socket.on('message', (frame) => {
      for (const reply of codec.decode(frame)) {
        this.replies.push(reply);
        if (Object.keys(reply).length === 0 && pong) this.send(codec.encode({}));
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
    this.send(codec.encode(command));
  }

  async reply(id, ms = 10_000) {
    await until(() => this.replies.some((r) => r.id === id), `reply ${id}`, ms);
    return this.replies.find((r) => r.id === id);
  }
}
