// The original's web UI reaches the API through its Next.js BFF: the
// browser calls `/api/proxy/<backend path>`, the BFF fetches the backend with
// the browser's headers (the `access_token` cookie as a Bearer header) and
// answers with the backend's status, status text, headers and body. Node's
// fetch decodes a compressed body, so a compressed API response reaches the
// browser as a plain body still labelled `Content-Encoding: br`, which
// Chromium refuses (ERR_CONTENT_DECODING_FAILED). This proxy behaves the
// same; headless Chromium signs up, logs in, creates a chat, sends and reads
// the history through it. Run by app/tests/it/api_bff.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

// playwright-core from the web app's packages (scripts/test.sh installs them).
const { chromium } = createRequire(new URL('../../web/package.json', import.meta.url))('playwright-core');
const BACKEND = process.env.HARMONY_URL;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding']);
const PAGE = '<!doctype html><title>BFF</title><p>proxy test</p>';

/** `/api/proxy/[...path]` as the original's route handler does it. */
async function proxy(request, response) {
  const url = new URL(request.url, 'http://bff');
  if (!url.pathname.startsWith('/api/proxy/')) {
    response.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    return;
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (name !== 'host' && name !== 'connection') headers.set(name, [value].flat().join(', '));
  }
  const token = /(?:^|;\s*)access_token=([^;]*)/.exec(request.headers.cookie ?? '')?.[1];
  if (token) headers.set('authorization', `Bearer ${token}`);
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  let upstream;
  try {
    upstream = await fetch(`${BACKEND}/${url.pathname.slice('/api/proxy/'.length)}${url.search}`, {
      method: request.method,
      headers,
      body: hasBody ? Readable.toWeb(request) : undefined,
      duplex: 'half',
      redirect: 'manual',
    });
  } catch (error) {
    response.writeHead(502, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ message: 'Failed to connect to backend', detail: String(error) }));
    return;
  }
  // Status, status text and every header as the backend sent them; the body
  // as fetch hands it over, decoded.
  for (const [name, value] of upstream.headers) {
    if (!HOP_BY_HOP.has(name) && name !== 'set-cookie') response.setHeader(name, value);
  }
  const cookies = upstream.headers.getSetCookie();
  if (cookies.length > 0) response.setHeader('set-cookie', cookies);
  response.writeHead(upstream.status, upstream.statusText);
  if (upstream.body) {
    for await (const chunk of upstream.body) response.write(chunk);
  }
  response.end();
}

/** One call from the page through the proxy: what the browser's fetch made of it. */
async function call(page, method, path, body, type = 'application/json') {
  return page.evaluate(
    async ({ method, path, body, type }) => {
      try {
        const response = await fetch(`/api/proxy/api/v1${path}`, {
          method,
          headers: body === undefined ? {} : { 'content-type': type },
          body,
        });
        return { status: response.status, body: response.status === 204 ? null : await response.json() };
      } catch (error) {
        return { error: String(error) };
      }
    },
    { method, path, body, type },
  );
}

test('the API works through a proxy that decodes bodies and forwards headers, in Chromium', async () => {
  const server = createServer((request, response) => {
    proxy(request, response).catch((error) => {
      response.destroy(error);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  const failed = [];
  try {
    const context = await browser.newContext({ baseURL: origin });
    const page = await context.newPage();
    page.on('requestfailed', (request) => failed.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
    await page.goto('/');

    const email = `bff-${randomUUID()}@example.com`;
    const password = 'correct horse battery';
    const created = await call(page, 'POST', '/users/', JSON.stringify({ username: 'bff', email, password }));
    assert.equal(created.status, 201, JSON.stringify({ created, failed }));
    assert.equal(created.body.email, email);

    const form = new URLSearchParams({ username: email, password }).toString();
    const tokens = await call(page, 'POST', '/auth/token', form, 'application/x-www-form-urlencoded');
    assert.equal(tokens.status, 200, JSON.stringify({ tokens, failed }));
    // The BFF's login action keeps the access token in an HttpOnly cookie.
    await context.addCookies([{ name: 'access_token', value: tokens.body[0].token, url: origin, httpOnly: true }]);

    const me = await call(page, 'GET', '/users/me');
    assert.deepEqual([me.status, me.body?.email], [200, email], JSON.stringify({ me, failed }));

    const chat = await call(page, 'POST', '/chats/', JSON.stringify({ title: 'Through the BFF', user_id_list: [] }));
    assert.equal(chat.status, 201, JSON.stringify({ chat, failed }));
    const chatId = chat.body.chat_id;

    const clientUuid = randomUUID();
    const sent = await call(page, 'POST', `/chats/${chatId}`, JSON.stringify({ content: 'Hello through the proxy', client_uuid: clientUuid }));
    assert.equal(sent.status, 201, JSON.stringify({ sent, failed }));
    assert.equal(sent.body.content, 'Hello through the proxy');

    const chats = await call(page, 'GET', '/users/me/chats');
    assert.equal(chats.status, 200, JSON.stringify({ chats, failed }));
    assert.deepEqual(
      chats.body.chats.map((c) => c.chat_id),
      [chatId],
    );

    // The history is written by the sink: read until the message is there.
    let history;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      history = await call(page, 'GET', `/chats/${chatId}?limit=50&cursor=`);
      if (history.error || history.status !== 200 || history.body.messages.length > 0) break;
      await page.waitForTimeout(100);
    }
    assert.equal(history.status, 200, JSON.stringify({ history, failed }));
    assert.deepEqual(
      history.body.messages.map((m) => [m.content, m.client_uuid]),
      [['Hello through the proxy', clientUuid]],
    );
    assert.deepEqual(failed, []);
  } finally {
    await browser.close();
    server.close();
  }
});
