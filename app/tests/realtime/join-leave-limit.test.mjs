// Joins and leaves are pushed only while a channel holds at most
// `realtime.join_leave_limit` clients (2 here): on a channel of N clients
// each one is N pushes. Presence keeps listing everyone. One gateway, so the
// bus carries its announcements in the order they were written: a typing
// publication heard after a join would have been heard after that join too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FORMAT, centrifuge, chat, collect, connectionToken, next, user } from './support.mjs';

const typing = (active) => {
  const value = { type: 'typing', active };
  return FORMAT === 'protobuf' ? new TextEncoder().encode(JSON.stringify(value)) : value;
};

async function subscribe(client, chatId) {
  const sub = client.newSubscription(`chat:${chatId}`);
  const ready = next(sub, 'subscribed');
  sub.subscribe();
  await ready;
  return sub;
}

// Seen failing with the limit removed (`PresenceStore::apply` announcing
// every join and leave: ann heard cid's join and leave), with every leave
// announced (cid's too), and with no leave announced (bob's, whose join was,
// went unheard while cid was there).
test('joins and leaves beyond the limit are not pushed; presence lists everyone', async () => {
  const [ann, bob, cid] = [await user('ann'), await user('bob'), await user('cid')];
  const chatId = await chat(ann, [bob, cid]);
  const clients = await Promise.all([ann, bob, cid].map(async (who) => centrifuge({ token: await connectionToken(who) })));
  const [anns, bobs, cids] = clients;
  try {
    clients.forEach((client) => client.connect());
    const annSub = anns.newSubscription(`chat:${chatId}`);
    const annJoined = next(annSub, 'join', (ctx) => ctx.info.user === ann.id);
    annSub.subscribe();
    await annJoined;
    const joins = collect(annSub, 'join');
    const leaves = collect(annSub, 'leave');
    const bobJoined = next(annSub, 'join', (ctx) => ctx.info.user === bob.id);
    const bobSub = await subscribe(bobs, chatId);
    await bobJoined;

    // The third client: listed, not announced.
    const cidTyped = next(annSub, 'publication', (ctx) => ctx.info?.user === cid.id);
    const cidSub = await subscribe(cids, chatId);
    await cidSub.publish(typing(true));
    await cidTyped;
    assert.deepEqual(joins.map((ctx) => ctx.info.user), [bob.id]);
    const presence = await annSub.presence();
    assert.deepEqual(Object.values(presence.clients).map((info) => info.user).sort(), [ann.id, bob.id, cid.id].sort());

    // bob leaves while cid is there: his join was announced, so is his leave.
    const bobLeft = next(annSub, 'leave', (ctx) => ctx.info.user === bob.id);
    bobSub.unsubscribe();
    await bobLeft;
    // cid's join was not announced: neither is cid's leave. Ann's own typing,
    // said once cid is no longer listed, comes after anything cid's leave said.
    cidSub.unsubscribe();
    while (Object.keys((await annSub.presence()).clients).length !== 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const annTyped = next(annSub, 'publication', (ctx) => ctx.info?.user === ann.id);
    await annSub.publish(typing(true));
    await annTyped;
    assert.deepEqual(leaves.map((ctx) => ctx.info.user), [bob.id]);
  } finally {
    clients.forEach((client) => client.disconnect());
  }
});
