// Every gateway reads every record (no shared consumer group), so clients
// on different instances all get each message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { URLS, centrifuge, chat, connectionToken, data, next, send, user } from './support.mjs';

test('two gateway instances both deliver the same message', async () => {
  assert.equal(URLS.length, 2);
  const [ann, bob] = [await user('ann'), await user('bob')];
  const chatId = await chat(ann, [bob]);
  const clients = [
    centrifuge({ base: URLS[0], token: await connectionToken(ann) }),
    centrifuge({ base: URLS[1], token: await connectionToken(bob) }),
  ];
  try {
    const subs = clients.map((client) => {
      client.connect();
      const sub = client.newSubscription(`chat:${chatId}`);
      sub.subscribe();
      return sub;
    });
    await Promise.all(subs.map((sub) => next(sub, 'subscribed')));
    const arrived = subs.map((sub) => next(sub, 'publication'));
    const sent = await send(ann, chatId, 'to everyone');
    for (const publication of await Promise.all(arrived)) {
      assert.deepEqual(data(publication), sent);
    }
  } finally {
    clients.forEach((client) => client.disconnect());
  }
});
