// Shared by the browser tests and the latency benchmark: Debian's Chromium
// driven by playwright-core, signing up through the UI, and stopping and
// starting the platform's API (app/tests/it/platform.rs).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
export const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), '../../../docs/screenshots');

const BASE = process.env.HARMONY_URL;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run'];

export async function browser() {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'harmony-e2e-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    baseURL: BASE,
  });
}

export async function signUp(context, name) {
  const page = context.pages()[0] ?? (await context.newPage());
  const email = `${name}-${randomUUID()}@example.com`;
  await page.goto('/');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByRole('button', { name: 'New chat' }).waitFor();
  return { page, email };
}

/** Logs in as an existing account (another device of the same person). */
export async function logIn(context, email) {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'New chat' }).waitFor();
  return { page, email };
}

/** Stops or starts the API instance (listener and connections closed, as
 *  when its process stops; started again on the same port). */
export async function api(action) {
  const response = await fetch(`${process.env.HARMONY_CONTROL_URL}/instances/0/${action}`, { method: 'POST' });
  if (response.status !== 204) throw new Error(`could not ${action} the API: ${response.status}`);
}

/** axe-core on the page as it is: serious and critical violations fail. */
export async function accessible(page, what) {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => (await globalThis.axe.run()).violations);
  const bad = violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  assert.deepEqual(bad, [], `${what}: accessibility violations`);
}

/** Opens the new-chat dialog with a title and `other` added; returns the dialog. */
export async function newChat(page, title, other) {
  await page.getByRole('button', { name: 'New chat' }).click();
  const dialog = page.getByRole('dialog', { name: 'New chat' });
  await dialog.getByLabel('Title').fill(title);
  await dialog.getByLabel('Add people by e-mail').fill(other.email.slice(0, 12));
  await dialog.getByRole('button', { name: `Add ${other.email}` }).click();
  return dialog;
}

/** A call to the API with the browser's session cookies (seeding state fast):
 *  its status and JSON body. */
export async function call(page, method, path, body) {
  return page.evaluate(
    async ([m, p, b]) => {
      const csrf = document.cookie.split('; ').find((c) => c.startsWith('csrf_token='))?.split('=')[1] ?? '';
      const headers = { 'x-csrf-token': csrf, ...(b === undefined ? {} : { 'content-type': 'application/json' }) };
      const response = await fetch(p, { method: m, headers, body: b === undefined ? undefined : JSON.stringify(b) });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null };
    },
    [method, path, body],
  );
}

/** Sends over the API with the browser's session cookies; the stored message. */
export async function sendAs(page, chatId, content, extra = {}) {
  const { status, body } = await call(page, 'POST', `/api/v1/chats/${chatId}`, { content, ...extra });
  assert.equal(status, 201);
  return body;
}
