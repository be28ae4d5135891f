// Who is here and what needs my attention (issue 24), end to end in
// Chromium against the real platform (app/tests/it/web.rs): two people, one
// of them on two devices. Read positions and counts come from the server and
// follow the person across devices; typing, presence and mentions are live;
// a muted chat loses its emphasis; browser notifications while hidden.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { accessible, browser, logIn, newChat, SCREENSHOTS, signUp } from './support.mjs';

async function write(page, text) {
  const box = page.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill(text);
  await box.press('Enter');
}

const chatLink = (page, name) => page.getByRole('navigation', { name: 'Chats' }).getByRole('link', { name, exact: true });

/** Opens chat `title` from the rail and waits for its messages. */
async function open(page, name, title) {
  await chatLink(page, name).click();
  await page.getByRole('heading', { name: title }).waitFor();
}

// Seen failing with the rail ignoring CHAT_READ (Bob's laptop kept "Standup,
// 2 unread messages") and with the divider placed from the page cached by
// the first visit (no divider before the mention on the second visit), and
// with typing=false said on every send and a refused typing not said again
// ("Ann is typing…" never showed after her three quick messages).
test('counts follow the reader across devices; mentions are counted and highlighted; typing and presence are live; muting removes the emphasis; axe; screenshots', async () => {
  const [annBrowser, bobPhone, bobLaptop] = [await browser(), await browser(), await browser()];
  let bobAgain;
  try {
    const ann = await signUp(annBrowser, 'Ann');
    const bob = await signUp(bobPhone, 'Bob');
    const bob2 = await logIn(bobLaptop, bob.email);
    for (const page of [ann.page, bob.page, bob2.page]) await page.setViewportSize({ width: 1100, height: 720 });

    await (await newChat(ann.page, 'Elsewhere', bob)).getByRole('button', { name: 'Create chat' }).click();
    await ann.page.getByRole('heading', { name: 'Elsewhere' }).waitFor();
    await (await newChat(ann.page, 'Standup', bob)).getByRole('button', { name: 'Create chat' }).click();
    await ann.page.getByRole('heading', { name: 'Standup' }).waitFor();
    for (const page of [bob.page, bob2.page]) await open(page, 'Elsewhere', 'Elsewhere');

    // (a) Unread on both of Bob's devices; reading on one clears the other
    // within a second (CHAT_READ on his personal channel).
    await write(ann.page, 'Morning all');
    await write(ann.page, 'Notes are in the doc');
    for (const page of [bob.page, bob2.page]) await chatLink(page, 'Standup, 2 unread messages').waitFor();
    const marked = bob.page.waitForResponse((r) => r.url().endsWith('/read') && r.request().method() === 'PUT' && r.status() === 200);
    await open(bob.page, 'Standup, 2 unread messages', 'Standup');
    // Where unread began: before the first of Ann's two.
    const divider = bob.page.getByRole('list', { name: 'Messages' }).getByText('New messages');
    await divider.waitFor();
    assert.equal(await bob.page.locator('li.new-messages + li.message .content').innerText(), 'Morning all');
    await marked;
    const readAt = Date.now();
    await chatLink(bob2.page, 'Standup').waitFor({ timeout: 1000 });
    console.log(`# the other device cleared its count ${Date.now() - readAt} ms after the read mark`);

    // (c) A mention: counted separately, highlighted as mine at Bob's, as a
    // mention of someone else at Ann's.
    await open(bob.page, 'Elsewhere', 'Elsewhere');
    await write(ann.page, '@bob can you take the release notes?');
    await chatLink(bob.page, 'Standup, 1 unread message, 1 mention').waitFor();
    await chatLink(bob2.page, 'Standup, 1 unread message, 1 mention').waitFor();
    // Not muted: the title is bold and the count on the brand colour.
    assert.deepEqual(
      await chatLink(bob.page, 'Standup, 1 unread message, 1 mention').evaluate((link) => {
        const badge = link.parentElement.querySelector('.rail-badges .badge:not(.mention)');
        return [getComputedStyle(link.querySelector('.title')).fontWeight, badge.className, badge.textContent, getComputedStyle(badge).backgroundColor];
      }),
      ['700', 'badge', '1', 'rgb(4, 120, 87)'],
    );
    await accessible(bob.page, 'the rail with unread and mention counts');
    await bob.page.screenshot({ path: join(SCREENSHOTS, 'attention-rail.png') });
    await open(bob.page, 'Standup, 1 unread message, 1 mention', 'Standup');
    const mine = bob.page.locator('mark.mention', { hasText: '@bob' });
    await mine.waitFor();
    // The divider moved: only the mention is new this time (the page cached
    // by the first visit did not hold it).
    await bob.page.locator('li.new-messages + li.message', { has: mine }).waitFor();
    assert.equal(await bob.page.getByText('New messages').count(), 1);
    assert.equal(await bob.page.locator('li.mentions-me .content').innerText(), '@bob can you take the release notes?');
    await ann.page.locator('span.mention', { hasText: '@bob' }).waitFor();
    assert.equal(await ann.page.locator('mark.mention').count(), 0, 'Ann is not mentioned');
    await chatLink(bob2.page, 'Standup').waitFor({ timeout: 1000 });

    // (b) Typing: Bob sees it within a fraction of a second, and it goes
    // when Ann clears her text, and again when she sends.
    const box = ann.page.getByRole('textbox', { name: 'Message', exact: true });
    const typing = bob.page.getByText('Ann is typing…');
    let started = Date.now();
    await box.fill('Sure, I');
    await typing.waitFor({ timeout: 1000 });
    console.log(`# typing shown after ${Date.now() - started} ms`);
    await bob.page.screenshot({ path: join(SCREENSHOTS, 'attention-chat.png') });
    await accessible(bob.page, 'a chat with the divider, a mention, typing and who is online');
    await bob.page.getByLabel('Theme').selectOption('dark');
    await accessible(bob.page, 'the same, dark');
    await bob.page.screenshot({ path: join(SCREENSHOTS, 'attention-chat-dark.png') });
    await bob.page.getByLabel('Theme').selectOption('light');
    await box.fill('');
    await typing.waitFor({ state: 'detached', timeout: 1000 });
    started = Date.now();
    await box.fill('Sure, I will');
    await typing.waitFor({ timeout: 1000 });
    await box.press('Enter');
    await bob.page.getByText('Sure, I will').waitFor();
    await typing.waitFor({ state: 'detached', timeout: 1000 });
    assert.equal(await ann.page.getByText('Bob is typing…').count(), 0);

    // (d) Presence: Ann sees Bob's devices come and go (online while any is
    // connected); the members dialog says who is online.
    const header = ann.page.locator('.chat-head');
    await header.getByText('2 online', { exact: true }).waitFor();
    await ann.page.getByRole('button', { name: 'Members' }).click();
    const members = ann.page.getByRole('dialog', { name: 'Members' }).getByRole('list', { name: 'Members of this chat' });
    await members.getByRole('listitem').filter({ hasText: bob.email }).getByText('online', { exact: true }).waitFor();
    await accessible(ann.page, 'the members dialog with who is online');
    await ann.page.screenshot({ path: join(SCREENSHOTS, 'attention-members.png') });
    await ann.page.getByRole('dialog', { name: 'Members' }).getByRole('button', { name: 'Close' }).click();
    await bobLaptop.close();
    await header.getByText('2 online', { exact: true }).waitFor();
    await bobPhone.close();
    await header.getByText('1 online', { exact: true }).waitFor();
    bobAgain = await browser();
    const bob3 = await logIn(bobAgain, bob.email);
    await header.getByText('2 online', { exact: true }).waitFor();

    // (e) Muting: the count stays, without emphasis; the choice reaches the
    // server (a reload keeps it).
    await bob3.page.setViewportSize({ width: 1100, height: 720 });
    await open(bob3.page, 'Standup', 'Standup');
    await bob3.page.getByLabel('Notifications for this chat').selectOption({ label: 'Muted' });
    await open(bob3.page, 'Elsewhere', 'Elsewhere');
    await write(ann.page, 'Stand-up moved to 10:30');
    const muted = chatLink(bob3.page, 'Standup, 1 unread message, muted');
    await muted.waitFor();
    assert.deepEqual(
      await muted.evaluate((link) => {
        const badge = link.parentElement.querySelector('.rail-badges .badge');
        return [getComputedStyle(link.querySelector('.title')).fontWeight, badge.className, badge.textContent, getComputedStyle(badge).backgroundColor];
      }),
      ['400', 'badge quiet', '1', 'rgba(0, 0, 0, 0)'],
    );
    await write(ann.page, '@bob and one more');
    await chatLink(bob3.page, 'Standup, 2 unread messages, 1 mention, muted').waitFor();
    assert.deepEqual(
      await bob3.page.locator('.rail-badges .badge').evaluateAll((badges) => badges.map((b) => [b.className, b.textContent])),
      [['badge mention quiet', '@1'], ['badge quiet', '2']],
    );
    await accessible(bob3.page, 'the rail with a muted chat');
    await bob3.page.reload();
    await chatLink(bob3.page, 'Standup, 2 unread messages, 1 mention, muted').waitFor();
    await open(bob3.page, 'Standup, 2 unread messages, 1 mention, muted', 'Standup');
    assert.equal(await bob3.page.getByLabel('Notifications for this chat').inputValue(), 'muted');
  } finally {
    for (const context of [annBrowser, bobPhone, bobLaptop, bobAgain]) await context?.close();
  }
});

// A notification choice, once the server saved it (the wait starts before
// the change, so a fast answer cannot be missed).
async function choose(page, label) {
  const saved = page.waitForResponse((r) => r.url().endsWith('/notifications') && r.status() === 200);
  await page.getByLabel('Notifications for this chat').selectOption({ label });
  await saved;
}

// The page's Notification API is replaced by a recorder, and the page told
// it is hidden: headless Chromium shows no notifications a test could see.
const HIDDEN_WITH_NOTIFICATIONS = () => {
  window.__notifications = [];
  window.__closed = [];
  window.__hidden = false;
  Object.defineProperty(Document.prototype, 'visibilityState', { get: () => (window.__hidden ? 'hidden' : 'visible') });
  window.Notification = class {
    static permission = 'default';
    static async requestPermission() {
      window.Notification.permission = 'granted';
      return 'granted';
    }
    constructor(title, options) {
      this.body = options?.body;
      window.__notifications.push({ title, body: options?.body });
    }
    close() {
      window.__closed.push(this.body);
      this.onclose?.();
    }
  };
};

test('while the tab is hidden, mentions notify, every message of a chat set to All does, a muted chat never does; reading or leaving the chat closes them', async () => {
  const [annBrowser, bobBrowser] = [await browser(), await browser()];
  try {
    const ann = await signUp(annBrowser, 'Ann');
    await bobBrowser.addInitScript(HIDDEN_WITH_NOTIFICATIONS);
    const bob = await signUp(bobBrowser, 'Bob');
    await (await newChat(ann.page, 'Ops', bob)).getByRole('button', { name: 'Create chat' }).click();
    await ann.page.getByRole('heading', { name: 'Ops' }).waitFor();
    await open(bob.page, 'Ops', 'Ops');
    await bob.page.getByRole('button', { name: 'Enable notifications' }).click();
    await bob.page.getByRole('status').filter({ hasText: 'Notifications on' }).waitFor();
    const notes = () => bob.page.evaluate(() => window.__notifications);
    await bob.page.evaluate(() => {
      window.__hidden = true;
    });

    // Mentions only (the default): a plain message does not notify, a mention does.
    await write(ann.page, 'deploy at five');
    await write(ann.page, '@bob please watch the dashboards');
    await bob.page.waitForFunction(() => window.__notifications.length > 0);
    assert.deepEqual(await notes(), [{ title: 'Ann mentioned you in Ops', body: '@bob please watch the dashboards' }]);

    // All: every message.
    await choose(bob.page, 'All messages');
    await write(ann.page, 'deploying now');
    await bob.page.waitForFunction(() => window.__notifications.length > 1);
    assert.deepEqual((await notes())[1], { title: 'Ann in Ops', body: 'deploying now' });

    // Muted: what is on screen for the chat closes; nothing new, not even a
    // mention. Seen failing without `dismiss` on CHAT_NOTIFICATIONS_SET.
    await choose(bob.page, 'Muted');
    await bob.page.waitForFunction(() => window.__closed.length === 2);
    assert.deepEqual(await bob.page.evaluate(() => window.__closed), ['@bob please watch the dashboards', 'deploying now']);
    await write(ann.page, '@bob rollback?');
    await bob.page.getByText('@bob rollback?').waitFor();
    // A visible tab: nothing either.
    await choose(bob.page, 'All messages');
    await bob.page.evaluate(() => {
      window.__hidden = false;
    });
    await write(ann.page, 'seen while visible');
    await bob.page.getByText('seen while visible').waitFor();
    await bob.page.evaluate(() => {
      window.__hidden = true;
    });
    await write(ann.page, 'all done');
    await bob.page.waitForFunction(() => window.__notifications.length > 2);
    assert.deepEqual((await notes()).map((n) => n.body), ['@bob please watch the dashboards', 'deploying now', 'all done']);

    // Read when Bob is back (a message arrives while he looks): what was on
    // screen closes. Seen failing without `dismiss` on CHAT_READ.
    await bob.page.evaluate(() => {
      window.__hidden = false;
    });
    await write(ann.page, 'welcome back');
    await bob.page.waitForFunction(() => window.__closed.length === 3);
    assert.equal(await bob.page.evaluate(() => window.__closed[2]), 'all done');

    // Leaving the chat closes what is still on screen for it. Seen failing
    // without `dismiss` on USER_LEFT.
    await bob.page.evaluate(() => {
      window.__hidden = true;
    });
    await write(ann.page, 'one more thing');
    await bob.page.waitForFunction(() => window.__notifications.length > 3);
    bob.page.once('dialog', (dialog) => dialog.accept());
    await bob.page.getByRole('button', { name: 'Leave chat' }).click();
    await bob.page.waitForFunction(() => window.__closed.length === 4);
    assert.equal(await bob.page.evaluate(() => window.__closed[3]), 'one more thing');
  } finally {
    await annBrowser.close();
    await bobBrowser.close();
  }
});
