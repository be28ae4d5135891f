// Message actions end to end, in two browsers against the real platform
// (app/tests/it/web.rs): editing, deleting, reacting and replying, each seen
// live by the other person; controls found by role and name; changes never
// counted as unread; a refused reaction undone with the server's message;
// a quote shows its original, loading older pages first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { accessible, browser, call, newChat, SCREENSHOTS, sendAs, signUp } from './support.mjs';

/** The message whose own text is exactly `text` (not a reply quoting it). */
function message(page, text) {
  const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  return page.getByRole('list', { name: 'Messages' }).getByRole('listitem').filter({ has: page.locator('.content', { hasText: exact }) });
}

/** What a person does: point at the message, then use one of its actions. */
async function action(page, text, name) {
  const item = message(page, text);
  await item.hover();
  await item.getByRole('button', { name, exact: true }).click();
  return item;
}

async function write(page, text) {
  const box = page.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill(text);
  await box.press('Enter');
}

test('edit, delete, react and reply reach the other person live; changes are never unread; a refused reaction is undone', async () => {
  const [first, second] = [await browser(), await browser()];
  try {
    const ann = await signUp(first, 'Ann');
    const bob = await signUp(second, 'Bob');
    for (const page of [ann.page, bob.page]) await page.setViewportSize({ width: 1100, height: 760 });
    await (await newChat(ann.page, 'Elsewhere', bob)).getByRole('button', { name: 'Create chat' }).click();
    await ann.page.getByRole('heading', { name: 'Elsewhere' }).waitFor();
    await (await newChat(ann.page, 'Launch', bob)).getByRole('button', { name: 'Create chat' }).click();
    await ann.page.getByRole('heading', { name: 'Launch' }).waitFor();
    await bob.page.getByRole('link', { name: 'Launch' }).click();
    await bob.page.getByRole('heading', { name: 'Launch' }).waitFor();

    await write(ann.page, 'Ship it on Friday?');
    await message(bob.page, 'Ship it on Friday?').waitFor();

    // Reply: the composer says to whom; the reply shows its quote at both.
    await action(bob.page, 'Ship it on Friday?', 'Reply');
    await bob.page.getByText('Replying to Ann').waitFor();
    await write(bob.page, 'Friday works for me');
    await bob.page.getByText('Replying to Ann').waitFor({ state: 'detached' });
    const quote = (page, text) => message(page, 'Friday works for me').getByRole('button', { name: `In reply to Ann: ${text}` });
    await quote(ann.page, 'Ship it on Friday?').waitFor();
    await quote(bob.page, 'Ship it on Friday?').waitFor();

    // The actions are reachable by keyboard: Tab from the message's text
    // lands on them, and they show while focus is inside.
    await message(ann.page, 'Ship it on Friday?').locator('.content').click();
    await ann.page.keyboard.press('Tab');
    const focused = await ann.page.evaluate(() => ({
      name: document.activeElement?.textContent,
      group: document.activeElement?.closest('[role=group]')?.getAttribute('aria-label'),
      shown: getComputedStyle(document.activeElement?.closest('[role=group]') ?? document.body).opacity,
    }));
    assert.deepEqual(focused, { name: 'React', group: 'Actions for the message from Ann', shown: '1' });

    // Edit in place, Enter saves: the other person sees the new text marked
    // edited, and the quote in the reply follows.
    await action(ann.page, 'Ship it on Friday?', 'Edit');
    const editor = ann.page.getByRole('textbox', { name: 'Edit message' });
    await editor.fill('Ship it on Thursday?');
    await editor.press('Enter');
    await message(bob.page, 'Ship it on Thursday?').getByText('(edited)').waitFor();
    await quote(bob.page, 'Ship it on Thursday?').waitFor();
    await quote(ann.page, 'Ship it on Thursday?').waitFor();

    // React from the picker; the chip toggles, pressed for whoever reacted.
    await action(bob.page, 'Ship it on Thursday?', 'React');
    await message(bob.page, 'Ship it on Thursday?').getByRole('button', { name: 'React with 👍' }).click();
    const chip = (page, name) => message(page, 'Ship it on Thursday?').getByRole('button', { name, exact: true });
    await chip(ann.page, '👍 1 reaction').click();
    await chip(bob.page, '👍 2 reactions, you reacted').waitFor();
    assert.equal(await chip(ann.page, '👍 2 reactions, you reacted').getAttribute('aria-pressed'), 'true');
    await chip(bob.page, '👍 2 reactions, you reacted').click();
    await chip(ann.page, '👍 1 reaction, you reacted').waitFor();
    await chip(bob.page, '👍 1 reaction').waitFor();

    // The new UI, light and dark, passes axe: actions shown, picker open,
    // the confirmation dialog open. Screenshots of each.
    mkdirSync(SCREENSHOTS, { recursive: true });
    await action(ann.page, 'Friday works for me', 'React');
    await ann.page.getByRole('group', { name: 'Pick a reaction' }).waitFor();
    await accessible(ann.page, 'chat with message actions and the reaction picker');
    await ann.page.screenshot({ path: join(SCREENSHOTS, 'message-actions.png') });
    await ann.page.keyboard.press('Escape');
    await ann.page.getByRole('group', { name: 'Pick a reaction' }).waitFor({ state: 'detached' });
    await action(bob.page, 'Ship it on Thursday?', 'Reply');
    await bob.page.getByLabel('Theme').selectOption('dark');
    await message(bob.page, 'Ship it on Thursday?').hover();
    await accessible(bob.page, 'chat with a reply being written, dark');
    await bob.page.screenshot({ path: join(SCREENSHOTS, 'message-reply-dark.png') });
    await bob.page.getByRole('button', { name: 'Cancel reply' }).click();

    // Delete, confirmed: a placeholder in its place at both, and the quote says so.
    const count = (page) => page.getByRole('list', { name: 'Messages' }).locator('li.message').count();
    const before = await count(bob.page);
    await action(ann.page, 'Ship it on Thursday?', 'Delete');
    const confirm = ann.page.getByRole('dialog', { name: 'Delete message?' });
    await confirm.getByText('Ship it on Thursday?').waitFor();
    await accessible(ann.page, 'the delete confirmation');
    await ann.page.screenshot({ path: join(SCREENSHOTS, 'message-delete.png') });
    await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
    await quote(bob.page, 'Message deleted').waitFor();
    for (const page of [ann.page, bob.page]) await page.locator('.text.deleted', { hasText: 'Message deleted' }).waitFor();
    assert.equal(await count(bob.page), before, 'a deleted message keeps its place');
    assert.equal(await message(bob.page, 'Ship it on Thursday?').count(), 0);

    // Unread: changes never count, and a deleted message stops counting.
    // Bob looks elsewhere; Ann writes (1 unread), reacts to Bob's message
    // (a change to a message Bob never counted: still 1), then deletes hers
    // (0). Counting changes, or keeping the deleted one, never reaches 0.
    await bob.page.getByRole('link', { name: 'Elsewhere', exact: true }).click();
    await bob.page.getByRole('heading', { name: 'Elsewhere' }).waitFor();
    await write(ann.page, 'Are you there?');
    await bob.page.getByRole('link', { name: 'Launch, 1 unread message', exact: true }).waitFor();
    await action(ann.page, 'Friday works for me', 'React');
    await message(ann.page, 'Friday works for me').getByRole('button', { name: 'React with 🎉' }).click();
    await action(ann.page, 'Are you there?', 'Delete');
    await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
    await bob.page.getByRole('link', { name: 'Launch', exact: true }).waitFor();
    await bob.page.getByRole('link', { name: 'Launch', exact: true }).click();
    await message(bob.page, 'Friday works for me').getByRole('button', { name: '🎉 1 reaction', exact: true }).waitFor();
    assert.equal(await count(bob.page), before + 1, 'no change shown as a message');

    // A 21st distinct reaction is refused: shown at once, then undone with
    // the server's message.
    const chatId = ann.page.url().split('/chats/')[1];
    const target = await ann.page.locator('li.message', { has: ann.page.locator('.content', { hasText: /^Friday works for me$/ }) }).getAttribute('id');
    const ulid = target.replace('message-', '');
    const fruit = ['🍎', '🍌', '🍇', '🍉', '🍒', '🍋', '🍍', '🥝', '🥕', '🌽', '🍄', '🥑', '🍆', '🥔', '🍞', '🧀', '🍕', '🍔', '🍟'];
    for (const emoji of fruit) {
      const { status } = await call(ann.page, 'PUT', `/api/v1/chats/${chatId}/messages/${ulid}/reactions/${encodeURIComponent(emoji)}`);
      assert.equal(status, 200, emoji);
    }
    const chips = (page) => message(page, 'Friday works for me').getByRole('group', { name: 'Reactions' }).getByRole('button');
    await message(bob.page, 'Friday works for me').getByRole('button', { name: '🍟 1 reaction', exact: true }).waitFor();
    assert.equal(await chips(bob.page).count(), 20);
    await action(bob.page, 'Friday works for me', 'React');
    await message(bob.page, 'Friday works for me').getByRole('button', { name: 'React with 👀' }).click();
    await bob.page.getByRole('alert').filter({ hasText: 'Could not add the reaction: A message can have at most 20 different reactions.' }).waitFor();
    await message(bob.page, 'Friday works for me').getByRole('button', { name: /^👀/ }).waitFor({ state: 'detached' });
    assert.equal(await chips(bob.page).count(), 20);
    assert.equal(await chips(ann.page).count(), 20);
  } finally {
    await first.close();
    await second.close();
  }
});

test('a quote shows the message it answers, loading older pages until it is there', async () => {
  const context = await browser();
  try {
    const ann = await signUp(context, 'ann');
    await ann.page.getByRole('button', { name: 'New chat' }).click();
    const dialog = ann.page.getByRole('dialog', { name: 'New chat' });
    await dialog.getByLabel('Title').fill('Long thread');
    await dialog.getByRole('button', { name: 'Create chat' }).click();
    await ann.page.getByRole('heading', { name: 'Long thread' }).waitFor();
    const chatId = ann.page.url().split('/chats/')[1];
    const original = await sendAs(ann.page, chatId, 'The plan, first draft');
    // More than a page (50) after it, so the original is not on the newest page.
    for (let n = 1; n <= 60; n += 1) await sendAs(ann.page, chatId, `later ${n}`);
    await sendAs(ann.page, chatId, 'About that plan', { reply_to: original.ulid });
    // History is written by the sink: reload until the reply is there.
    for (;;) {
      await ann.page.reload();
      await ann.page.getByRole('heading', { name: 'Long thread' }).waitFor();
      if (await message(ann.page, 'About that plan').count()) break;
    }
    assert.equal(await message(ann.page, 'The plan, first draft').count(), 0, 'the original is on an older page');
    await message(ann.page, 'About that plan').getByRole('button', { name: 'In reply to ann: The plan, first draft' }).click();
    const shown = message(ann.page, 'The plan, first draft');
    await shown.waitFor();
    await ann.page.waitForFunction(
      (id) => {
        const element = document.getElementById(id);
        const list = element?.closest('ol')?.getBoundingClientRect();
        const box = element?.getBoundingClientRect();
        return document.activeElement === element && list && box && box.top >= list.top && box.bottom <= list.bottom;
      },
      `message-${original.ulid}`,
    );
    assert.match(await shown.getAttribute('class'), /highlight/);
  } finally {
    await context.close();
  }
});
