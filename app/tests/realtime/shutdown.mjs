// Run by app/tests/it/realtime.rs: connects, says so, and expects the
// gateway's shutdown to close the connection with 3001 (reconnect advised).
import assert from 'node:assert/strict';
import { Raw, forgeToken, user } from './support.mjs';

const ann = await user('ann');
const raw = await new Raw().open();
raw.command({ id: 1, connect: { token: forgeToken(ann.id, 600) } });
await raw.reply(1);
console.log('connected');
const closed = await raw.closed;
assert.deepEqual(closed, { code: 3001, reason: 'shutdown' });
console.log('closed 3001');
