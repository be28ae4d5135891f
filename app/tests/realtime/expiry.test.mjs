// Connections follow their credentials: the connect reply carries the
// token's ttl, a refresh with a fresh token extends it, and an unrefreshed
// connection is closed with 3005 ("expired", reconnect advised).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Raw, centrifuge, chat, connectionToken, data, forgeToken, next, send, until, user } from './support.mjs';

const GRACE = Number(process.env.EXPIRED_CLOSE_DELAY_SECONDS);

test('an unrefreshed connection is closed with 3005 after its token expires', async () => {
  const ann = await user('ann');
  const raw = await new Raw().open();
  const started = Date.now();
  raw.command({ id: 1, connect: { token: forgeToken(ann.id, 2) } });
  const reply = await raw.reply(1);
  assert.equal(reply.connect.expires, true);
  assert.ok(reply.connect.ttl >= 1 && reply.connect.ttl <= 2, `ttl ${reply.connect.ttl}`);
  const closed = await raw.closed;
  assert.equal(closed.code, 3005);
  assert.equal(closed.reason, 'expired');
  const seconds = (Date.now() - started) / 1000;
  assert.ok(seconds >= 1 + GRACE && seconds < 2 + GRACE + 2, `closed after ${seconds} s`);
});

test('an expired token is refused with 109, and the client fetches a fresh one', async () => {
  const ann = await user('ann');
  let asked = 0;
  const client = centrifuge({
    token: forgeToken(ann.id, -10),
    getToken: async () => {
      asked += 1;
      return connectionToken(ann);
    },
  });
  try {
    const refused = next(client, 'error', (ctx) => ctx.type === 'connect');
    client.connect();
    assert.equal((await refused).error.code, 109);
    await next(client, 'connected');
    assert.equal(asked, 1);
  } finally {
    client.disconnect();
  }
});

test('a client that refreshes its token stays connected past the first expiry', async () => {
  const [ann, bob] = [await user('ann'), await user('bob')];
  const chatId = await chat(ann, [bob]);
  let refreshes = 0;
  const client = centrifuge({
    token: forgeToken(bob.id, 2),
    getToken: async () => {
      refreshes += 1;
      return forgeToken(bob.id, 60);
    },
  });
  try {
    client.connect();
    await next(client, 'connected');
    const disconnects = [];
    client.on('disconnected', (ctx) => disconnects.push(ctx));
    client.on('connecting', (ctx) => disconnects.push(ctx));
    const sub = client.newSubscription(`chat:${chatId}`);
    sub.subscribe();
    await next(sub, 'subscribed');
    await until(() => refreshes === 1, 'a refresh', 5_000);
    // Past the first token's expiry and the grace: still the same connection.
    await new Promise((resolve) => setTimeout(resolve, (2 + GRACE + 1) * 1000));
    const arrived = next(sub, 'publication');
    await send(ann, chatId, 'still here');
    assert.equal(data(await arrived).content, 'still here');
    assert.deepEqual(disconnects, []);
  } finally {
    client.disconnect();
  }
});

test('a refresh with another user\'s token ends the connection with 3500', async () => {
  const [ann, eve] = [await user('ann'), await user('eve')];
  const raw = await new Raw().open();
  raw.command({ id: 1, connect: { token: forgeToken(ann.id, 60) } });
  await raw.reply(1);
  raw.command({ id: 2, refresh: { token: forgeToken(eve.id, 60) } });
  assert.equal((await raw.closed).code, 3500);
});

// This file's platform pings every second: a client that never answers is
// closed with 3012 by the second ping, while the SDK (which answers) stays.
test('a client that does not answer pings is closed with 3012', async () => {
  const ann = await user('ann');
  const raw = await new Raw({ pong: false }).open();
  raw.command({ id: 1, connect: { token: forgeToken(ann.id, 600) } });
  assert.equal((await raw.reply(1)).connect.ping, 1);
  assert.equal((await raw.closed).code, 3012);
  assert.ok(raw.replies.some((r) => Object.keys(r).length === 0), 'a ping was sent first');
});
