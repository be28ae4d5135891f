// End to end in headless Chromium (Debian's, driven by playwright-core)
// against the real platform started by app/tests/it/web.rs: two people sign
// up in two browsers, one creates a chat with the other, they exchange
// messages both ways and each sees the other's live, without a reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { accessible, api, browser, newChat, SCREENSHOTS, sendAs, signUp } from './support.mjs';

test('two people chat live in two browsers, and logging out ends the session', async () => {
  const [first, second] = [await browser(), await browser()];
  try {
    const ann = await signUp(first, 'ann');
    const bob = await signUp(second, 'bob');

    const dialog = await newChat(ann.page, 'Lunch', bob);
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

    // Messages to a chat Bob is not looking at count as unread, also after a
    // reload; opening the chat reads them.
    await (await newChat(ann.page, 'Dinner', bob)).getByRole('button', { name: 'Create chat' }).click();
    await ann.page.getByRole('heading', { name: 'Dinner' }).waitFor();
    await bob.page.getByRole('link', { name: 'Dinner', exact: true }).waitFor();
    for (const text of ['Pizza?', 'Or curry?']) {
      await ann.page.getByRole('textbox', { name: 'Message', exact: true }).fill(text);
      await ann.page.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
    }
    await bob.page.getByRole('link', { name: 'Dinner, 2 unread messages', exact: true }).waitFor();
    assert.equal(await bob.page.getByRole('link', { name: 'Lunch', exact: true }).count(), 1, 'the open chat has no unread count');
    await bob.page.reload();
    await bob.page.getByRole('link', { name: 'Dinner, 2 unread messages', exact: true }).click();
    await bob.page.getByText('Or curry?').waitFor();
    await bob.page.getByRole('link', { name: 'Dinner', exact: true }).waitFor();

    await ann.page.getByRole('button', { name: 'Log out' }).click();
    await ann.page.getByRole('link', { name: 'Log in' }).waitFor();
    // Back to the chat: the session is gone, so the login page, not the chat.
    await ann.page.goBack();
    await ann.page.getByRole('heading', { name: 'Log in' }).waitFor();
    assert.match(ann.page.url(), /\/login\?next=%2Fchats%2F/);
    assert.equal(await ann.page.getByText('Noon at the usual place?').count(), 0);
  } finally {
    await first.close();
    await second.close();
  }
});

test('leaving and deleting reach the other person live; the theme persists; pages pass axe; screenshots', async () => {
  const [first, second] = [await browser(), await browser()];
  try {
    const landing = first.pages()[0] ?? (await first.newPage());
    await landing.goto('/');
    await accessible(landing, 'landing page');
    await landing.goto('/login');
    await accessible(landing, 'login page');
    const ann = await signUp(first, 'Ann');
    const bob = await signUp(second, 'Bob');
    await ann.page.setViewportSize({ width: 1100, height: 700 });

    const dialog = await newChat(ann.page, 'Design review', bob);
    await dialog.getByLabel('Description').fill('Weekly, Thursdays');
    mkdirSync(SCREENSHOTS, { recursive: true });
    await ann.page.screenshot({ path: join(SCREENSHOTS, 'create-chat.png') });
    await dialog.getByRole('button', { name: 'Create chat' }).click();
    await ann.page.getByRole('heading', { name: 'Design review' }).waitFor();
    const box = ann.page.getByRole('textbox', { name: 'Message', exact: true });
    for (const line of ['Morning! The new rail is in.', 'Spacing feels tight on mobile though.\n  Thoughts?']) {
      await box.fill(line);
      await box.press('Enter');
    }
    await bob.page.getByRole('link', { name: 'Design review' }).click();
    await bob.page.getByRole('textbox', { name: 'Message', exact: true }).fill('Agreed, I will widen it.');
    await bob.page.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
    await ann.page.getByText('Agreed, I will widen it.').waitFor();
    await accessible(ann.page, 'chat page');

    // The theme: dark, kept across a reload.
    await ann.page.getByLabel('Theme').selectOption('light');
    await ann.page.screenshot({ path: join(SCREENSHOTS, 'chat-light.png') });
    await ann.page.getByLabel('Theme').selectOption('dark');
    await ann.page.reload();
    await ann.page.getByText('Agreed, I will widen it.').waitFor();
    assert.equal(await ann.page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    assert.equal(await ann.page.getByLabel('Theme').inputValue(), 'dark');
    await accessible(ann.page, 'chat page, dark');
    await ann.page.screenshot({ path: join(SCREENSHOTS, 'chat-dark.png') });

    // At 360 px (a small phone) nothing scrolls sideways and chatting works.
    await ann.page.setViewportSize({ width: 360, height: 740 });
    assert.ok(await ann.page.evaluate(() => document.documentElement.scrollWidth <= 360), 'no sideways scrolling at 360 px');
    await box.fill('From my phone');
    await box.press('Enter');
    await bob.page.getByText('From my phone').waitFor();
    // Escape closes a dialog, and focus goes back to the button that opened it.
    await ann.page.getByRole('button', { name: 'New chat' }).click();
    await ann.page.getByRole('dialog', { name: 'New chat' }).getByLabel('Title').waitFor();
    await ann.page.keyboard.press('Escape');
    await ann.page.getByRole('dialog', { name: 'New chat' }).waitFor({ state: 'hidden' });
    assert.equal(await ann.page.evaluate(() => document.activeElement?.textContent), 'New chat');
    await ann.page.setViewportSize({ width: 1100, height: 700 });

    // Bob leaves: his chat closes; Ann deletes another chat: it leaves Bob's list live.
    const second_dialog = await newChat(ann.page, 'Old project', bob);
    await second_dialog.getByRole('button', { name: 'Create chat' }).click();
    await bob.page.getByRole('link', { name: 'Old project' }).waitFor();
    bob.page.once('dialog', (d) => d.accept());
    await bob.page.getByRole('button', { name: 'Leave chat' }).click();
    await bob.page.getByText('Pick a chat, or start a new one.').waitFor();
    await bob.page.getByRole('link', { name: 'Design review' }).waitFor({ state: 'detached' });
    await ann.page.getByRole('link', { name: 'Old project' }).click();
    ann.page.once('dialog', (d) => d.accept());
    await ann.page.getByRole('button', { name: 'Delete chat' }).click();
    await bob.page.getByRole('link', { name: 'Old project' }).waitFor({ state: 'detached' });
  } finally {
    await first.close();
    await second.close();
  }
});

test('scrolling up loads 200 older messages, none missing or repeated; members are listed and added; deleting the account signs out for good', async () => {
  const context = await browser();
  try {
    const ann = await signUp(context, 'ann');
    await ann.page.getByRole('button', { name: 'New chat' }).click();
    const dialog = ann.page.getByRole('dialog', { name: 'New chat' });
    await dialog.getByLabel('Title').fill('Archive');
    await dialog.getByRole('button', { name: 'Create chat' }).click();
    await ann.page.getByRole('heading', { name: 'Archive' }).waitFor();
    const chatId = ann.page.url().split('/chats/')[1];
    for (let n = 1; n <= 200; n += 1) await sendAs(ann.page, chatId, `message ${n}`);
    // History is written by the sink: reload until the newest is there.
    for (;;) {
      await ann.page.reload();
      await ann.page.getByRole('heading', { name: 'Archive' }).waitFor();
      if (await ann.page.getByText('message 200', { exact: true }).count()) break;
    }
    const list = ann.page.getByRole('list', { name: 'Messages' });
    while (!(await ann.page.getByText('The beginning of this chat').count())) {
      await list.evaluate((element) => element.scrollTo(0, 0));
      await ann.page.waitForTimeout(50);
    }
    const texts = await ann.page.locator('.messages .content').allInnerTexts();
    assert.equal(texts.length, 200);
    assert.deepEqual(texts, Array.from({ length: 200 }, (_, i) => `message ${i + 1}`));

    // The member list, and adding someone to the chat.
    const carol = `carol-${randomUUID()}@example.com`;
    const created = await ann.page.evaluate(async (email) => {
      const body = JSON.stringify({ username: 'carol', email, password: 'correct horse battery' });
      return (await fetch('/api/v1/users/', { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status;
    }, carol);
    assert.equal(created, 201);
    await ann.page.getByRole('button', { name: 'Members' }).click();
    const members = ann.page.getByRole('dialog', { name: 'Members' });
    const memberList = members.getByRole('list', { name: 'Members of this chat' });
    await memberList.getByText(ann.email).waitFor();
    await members.getByLabel('Add people by e-mail').fill(carol.slice(0, 14));
    await members.getByRole('button', { name: `Add ${carol}` }).click();
    await members.getByRole('button', { name: 'Add to chat' }).click();
    await memberList.getByText(carol).waitFor();
    assert.equal(await memberList.getByRole('listitem').count(), 2);
    await members.getByRole('button', { name: 'Close' }).click();

    ann.page.once('dialog', (d) => d.accept());
    await ann.page.getByRole('button', { name: 'Delete account' }).click();
    await ann.page.getByRole('link', { name: 'Log in' }).waitFor();
    await ann.page.getByRole('link', { name: 'Log in' }).click();
    await ann.page.getByLabel('Email').fill(ann.email);
    await ann.page.getByLabel('Password').fill('correct horse battery');
    await ann.page.getByRole('button', { name: 'Log in' }).click();
    await ann.page.getByRole('alert').waitFor();
    assert.equal(await ann.page.getByRole('alert').innerText(), 'Invalid email or password.');
  } finally {
    await context.close();
  }
});

test('a send while the API is stopped shows as not sent; retry after the restart delivers one copy, also when the first attempt had reached the server', async () => {
  const [first, second] = [await browser(), await browser()];
  try {
    const ann = await signUp(first, 'ann');
    const bob = await signUp(second, 'bob');
    const dialog = await newChat(ann.page, 'Flaky', bob);
    await dialog.getByRole('button', { name: 'Create chat' }).click();
    await ann.page.getByRole('heading', { name: 'Flaky' }).waitFor();
    await bob.page.getByRole('link', { name: 'Flaky' }).click();
    await bob.page.getByRole('heading', { name: 'Flaky' }).waitFor();
    const sends = /\/api\/v1\/chats\/[0-9a-f-]+$/;
    const box = ann.page.getByRole('textbox', { name: 'Message', exact: true });
    const copies = (page, text) => page.locator('.messages .content', { hasText: text }).count();

    // The API is stopped: the message shows at once, then as not sent, and
    // the connection as lost; once the API is back, Retry delivers one copy.
    await api('stop');
    await ann.page.getByRole('status', { name: 'Connection: connected' }).waitFor({ state: 'detached' });
    await box.fill('first try');
    await box.press('Enter');
    await ann.page.getByText('Not sent').waitFor();
    await api('start');
    await ann.page.getByRole('status', { name: 'Connection: connected' }).waitFor({ timeout: 30_000 });
    await bob.page.getByRole('status', { name: 'Connection: connected' }).waitFor({ timeout: 30_000 });
    await ann.page.getByRole('button', { name: 'Retry' }).click();
    await bob.page.getByText('first try').waitFor();
    await ann.page.getByText('Not sent').waitFor({ state: 'detached' });

    // The send reaches the server but its answer is lost: the live copy
    // replaces the pending one, and nothing is stored twice.
    await ann.page.route(sends, async (route) => {
      await route.fetch();
      await route.abort('failed');
    });
    await box.fill('answer lost');
    await box.press('Enter');
    await bob.page.getByText('answer lost').waitFor();
    // One copy at Ann's too, and nothing left pending (seen failing with the
    // live copy not replacing the optimistic one).
    await ann.page.waitForFunction(
      () =>
        [...document.querySelectorAll('.messages .content')].filter((n) => n.textContent === 'answer lost').length === 1 &&
        !document.querySelector('.message.pending'),
      null,
      { timeout: 10_000 },
    );
    await ann.page.unroute(sends);
    for (const page of [ann.page, bob.page]) {
      await page.reload();
      await page.getByText('answer lost').waitFor();
      assert.equal(await copies(page, 'first try'), 1);
      assert.equal(await copies(page, 'answer lost'), 1);
    }
  } finally {
    await first.close();
    await second.close();
  }
});
