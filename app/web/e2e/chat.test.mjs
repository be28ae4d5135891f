// End to end in headless Chromium (Debian's, driven by playwright-core)
// against the real platform started by app/tests/it/web.rs: two people sign
// up in two browsers, one creates a chat with the other, they exchange
// messages both ways and each sees the other's live, without a reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.HARMONY_URL;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run'];

async function browser() {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'harmony-e2e-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    baseURL: BASE,
  });
}

async function signUp(context, name) {
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

test('two people chat live in two browsers, and logging out ends the session', async () => {
  const [first, second] = [await browser(), await browser()];
  try {
    const ann = await signUp(first, 'ann');
    const bob = await signUp(second, 'bob');

    await ann.page.getByRole('button', { name: 'New chat' }).click();
    const dialog = ann.page.getByRole('dialog', { name: 'New chat' });
    await dialog.getByLabel('Title').fill('Lunch');
    await dialog.getByLabel('Add people by e-mail').fill(bob.email.slice(0, 12));
    await dialog.getByRole('button', { name: `Add ${bob.email}` }).click();
    await dialog.getByRole('button', { name: 'Create chat' }).click();
    await ann.page.getByRole('heading', { name: 'Lunch' }).waitFor();

    // Bob's chat list learns of the new chat from his personal channel.
    await bob.page.getByRole('link', { name: 'Lunch' }).click();
    await bob.page.getByRole('heading', { name: 'Lunch' }).waitFor();

    await ann.page.getByRole('textbox', { name: 'Message', exact: true }).fill('Noon at the usual place?');
    await ann.page.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
    await bob.page.getByText('Noon at the usual place?').waitFor();
    await bob.page.getByRole('textbox', { name: 'Message', exact: true }).fill('Yes!\n  See you there.');
    await bob.page.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
    await ann.page.getByText('See you there.', { exact: false }).waitFor();
    const shown = await ann.page.locator('.content', { hasText: 'See you there.' }).innerText();
    assert.equal(shown, 'Yes!\n  See you there.', 'whitespace is preserved');
    assert.equal(await ann.page.locator('.content', { hasText: 'Noon at the usual place?' }).count(), 1, 'no duplicate of the sent message');

    await ann.page.getByRole('button', { name: 'Log out' }).click();
    await ann.page.getByRole('link', { name: 'Log in' }).waitFor();
    await ann.page.goto('/chats');
    await ann.page.getByRole('heading', { name: 'Log in' }).waitFor();
    assert.match(ann.page.url(), /\/login\?next=%2Fchats$/);
  } finally {
    await first.close();
    await second.close();
  }
});
