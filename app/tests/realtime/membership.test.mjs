// Chat-list changes on the personal channel, and server-side unsubscribe
// when a member leaves or the chat is deleted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, centrifuge, chat, collect, connectionToken, data, expectStatus, next, send, until, user } from './support.mjs';

const personal = (who) => `personal:#${who.id}`;
const event = (client, who, type, chatId) =>
  next(client, 'publication', (ctx) =>
    ctx.channel === personal(who) && data(ctx).event_type === type && data(ctx).aggregate_id === chatId);

// Seen failing with the relay's x-centrifugo-channels header on chat events removed.
test('chat creation, addition, leaving and deletion reach each concerned personal channel', async () => {
  const [ann, bob, cid] = [await user('ann'), await user('bob'), await user('cid')];
  const bobs = centrifuge({ token: await connectionToken(bob) });
  const cids = centrifuge({ token: await connectionToken(cid) });
  try {
    const subscribed = [next(bobs, 'subscribed'), next(cids, 'subscribed')];
    bobs.connect();
    cids.connect();
    // The personal channel is subscribed by the server at connect.
    assert.deepEqual((await Promise.all(subscribed)).map((s) => s.channel), [personal(bob), personal(cid)]);

    const created = next(bobs, 'publication', (ctx) => data(ctx).event_type === 'CHAT_CREATED');
    const chatId = await chat(ann, [bob]);
    const createdEvent = await created;
    assert.equal(createdEvent.channel, personal(bob));
    assert.equal(data(createdEvent).aggregate_id, chatId);
    assert.deepEqual(data(createdEvent).payload.user_id_list.sort(), [ann.id, bob.id].sort());

    const added = event(cids, cid, 'USERS_ADDED', chatId);
    await expectStatus(api(`/api/v1/chats/${chatId}/members`, { method: 'POST', token: ann.access, body: { user_id_list: [cid.id] } }), 200);
    assert.deepEqual(data(await added).payload.user_id_list, [cid.id]);

    const left = event(bobs, bob, 'USER_LEFT', chatId);
    await expectStatus(api(`/api/v1/chats/${chatId}/leave`, { method: 'POST', token: bob.access }), 204);
    assert.equal(data(await left).payload.user_id, bob.id);

    const deleted = event(cids, cid, 'CHAT_DELETED', chatId);
    await expectStatus(api(`/api/v1/chats/${chatId}`, { method: 'DELETE', token: ann.access }), 204);
    assert.equal(data(await deleted).payload.deleted_by, ann.id);
  } finally {
    bobs.disconnect();
    cids.disconnect();
  }
});

// Seen failing with the feed's USER_LEFT unsubscribe removed: no unsubscribed event.
test('a member who leaves is unsubscribed at once and gets nothing more', async () => {
  const [ann, bob] = [await user('ann'), await user('bob')];
  const chatId = await chat(ann, [bob]);
  const anns = centrifuge({ token: await connectionToken(ann) });
  const bobs = centrifuge({ token: await connectionToken(bob) });
  try {
    anns.connect();
    bobs.connect();
    const annSub = anns.newSubscription(`chat:${chatId}`);
    const bobSub = bobs.newSubscription(`chat:${chatId}`);
    const annSeen = collect(annSub, 'publication');
    const bobSeen = collect(bobSub, 'publication');
    annSub.subscribe();
    bobSub.subscribe();
    await Promise.all([next(annSub, 'subscribed'), next(bobSub, 'subscribed')]);

    const unsubscribed = next(bobSub, 'unsubscribed');
    await expectStatus(api(`/api/v1/chats/${chatId}/leave`, { method: 'POST', token: bob.access }), 204);
    assert.equal((await unsubscribed).code, 2000);
    await send(ann, chatId, 'after bob left');
    await until(() => annSeen.length === 1, "ann's copy");
    assert.equal(bobSeen.length, 0);
    // And he cannot come back to it.
    const refused = next(bobSub, 'unsubscribed');
    bobSub.subscribe();
    assert.equal((await refused).code, 103);
  } finally {
    anns.disconnect();
    bobs.disconnect();
  }
});

test('deleting a chat unsubscribes every member', async () => {
  const [ann, bob] = [await user('ann'), await user('bob')];
  const chatId = await chat(ann, [bob]);
  const bobs = centrifuge({ token: await connectionToken(bob) });
  try {
    bobs.connect();
    const sub = bobs.newSubscription(`chat:${chatId}`);
    sub.subscribe();
    await next(sub, 'subscribed');
    const unsubscribed = next(sub, 'unsubscribed');
    await expectStatus(api(`/api/v1/chats/${chatId}`, { method: 'DELETE', token: ann.access }), 204);
    assert.equal((await unsubscribed).code, 2000);
  } finally {
    bobs.disconnect();
  }
});
