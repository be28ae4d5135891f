// Shared by the browser tests and the latency benchmark: Debian's Chromium
// driven by playwright-core, signing up through the UI, and stopping and
// starting the platform's API (app/tests/it/platform.rs).
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

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


/** Stops or starts the API instance (listener and connections closed, as
 *  when its process stops; started again on the same port). */
export async function api(action) {
  const response = await fetch(`${process.env.HARMONY_CONTROL_URL}/instances/0/${action}`, { method: 'POST' });
  if (response.status !== 204) throw new Error(`could not ${action} the API: ${response.status}`);
}
