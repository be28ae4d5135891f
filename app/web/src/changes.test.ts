// The fold of message changes, mirroring app/src/domain/change.rs's tests
// (the same steps, the same outcomes), plus the web app's own use of it.
import { describe, expect, it } from 'vitest';
import type { Message } from './api/client';
import type { Action, MessageChange } from './api/contract';
import { applyChange, applyToQuote, excerpt, EXCERPT_CHARS, isChange, withChanges } from './changes';

const NIL = '00000000-0000-0000-0000-000000000000';
const ANN = '00000000-0000-0000-0000-000000000001';
const BOB = '00000000-0000-0000-0000-000000000002';

const change = (kind: Action, user_id: string, ulid = '01M'): MessageChange => ({
  ...kind,
  chat_id: NIL,
  ulid,
  change_id: '01C',
  client_uuid: null,
  user_id,
  timestamp: 't',
});

const message = (ulid = '01M', content = 'hi'): Message => ({
  chat_id: NIL,
  ulid,
  client_uuid: null,
  timestamp: 't0',
  user_id: ANN,
  content,
  author_metadata: { username: 'ann' },
});

describe('the change fold (change.rs)', () => {
  it('the wire shape is flat with a type', () => {
    const wire: unknown = JSON.parse(
      `{"type":"message_edited","content":"new","chat_id":"${NIL}","ulid":"01M","change_id":"01C","client_uuid":null,"user_id":"${NIL}","timestamp":"t"}`,
    );
    expect(isChange(wire)).toBe(true);
    expect(wire).toEqual(change({ type: 'message_edited', content: 'new' }, NIL));
  });

  it('a message record and a typing publication are not changes', () => {
    expect(isChange({ type: 'typing', active: true })).toBe(false);
    const record: unknown = JSON.parse(
      `{"chat_id":"${NIL}","ulid":"01J","client_uuid":null,"timestamp":"t","user_id":"${NIL}","content":"hi","author_metadata":null}`,
    );
    expect(isChange(record)).toBe(false);
    expect(isChange(null)).toBe(false);
  });

  // Without the guard on deleted messages in applyChange this was seen
  // failing ('back' shown again after the deletion).
  it('reactions are sets and deletion is final', () => {
    let now = message();
    for (const user of [ANN, ANN, BOB]) now = applyChange(change({ type: 'reaction_added', emoji: '👍' }, user), now);
    expect(now.reactions?.[0]?.user_ids).toEqual([ANN, BOB]);
    now = applyChange(change({ type: 'reaction_removed', emoji: '👍' }, ANN), now);
    now = applyChange(change({ type: 'reaction_removed', emoji: '👍' }, BOB), now);
    expect(now.reactions).toEqual([]);
    now = applyChange(change({ type: 'message_deleted' }, ANN), now);
    now = applyChange(change({ type: 'message_edited', content: 'back' }, ANN), now);
    now = applyChange(change({ type: 'reaction_added', emoji: '👍' }, ANN), now);
    expect(now.deleted).toBe(true);
    expect(now.content).toBe('');
    expect(now.reactions).toEqual([]);
  });

  it('an edit replaces the content and marks when; a deletion clears content, mark and reactions', () => {
    let now = applyChange(change({ type: 'reaction_added', emoji: '🎉' }, BOB), message());
    now = applyChange({ ...change({ type: 'message_edited', content: 'hello' }, ANN), timestamp: '2026-12-01T10:00:00Z' }, now);
    expect(now).toMatchObject({ content: 'hello', edited_at: '2026-12-01T10:00:00Z', reactions: [{ emoji: '🎉', user_ids: [BOB] }] });
    now = applyChange(change({ type: 'message_deleted' }, ANN), now);
    expect(now).toMatchObject({ content: '', deleted: true, edited_at: undefined, reactions: [] });
  });

  it('reactions keep the order in which each emoji was first used', () => {
    let now = message();
    for (const emoji of ['👍', '🎉', '👍']) now = applyChange(change({ type: 'reaction_added', emoji }, emoji === '👍' ? ANN : BOB), now);
    now = applyChange(change({ type: 'reaction_added', emoji: '👍' }, BOB), now);
    expect(now.reactions).toEqual([
      { emoji: '👍', user_ids: [ANN, BOB] },
      { emoji: '🎉', user_ids: [BOB] },
    ]);
  });

  it('a reply’s quote follows an edit (its start) and a deletion of the quoted message, and nothing else', () => {
    const reply: Message = {
      ...message('01R', 'sure'),
      reply_to: { ulid: '01M', user_id: ANN, username: 'ann', excerpt: 'hi', deleted: false },
    };
    const long = '😀'.repeat(EXCERPT_CHARS + 5);
    let now = applyToQuote(change({ type: 'message_edited', content: long }, ANN), reply);
    expect(now.reply_to?.excerpt).toBe('😀'.repeat(EXCERPT_CHARS));
    expect(applyToQuote(change({ type: 'reaction_added', emoji: '👍' }, BOB), now)).toBe(now);
    expect(applyToQuote(change({ type: 'message_deleted' }, ANN, '01X'), now)).toBe(now);
    now = applyToQuote(change({ type: 'message_deleted' }, ANN), now);
    expect(now.reply_to).toEqual({ ulid: '01M', user_id: ANN, username: 'ann', excerpt: '', deleted: true });
    expect(now.content).toBe('sure');
  });

  // Without the `deleted` guard in applyToQuote this was seen failing: the
  // racing edit put 'back' in the quote.
  it('a deleted quote stays empty', () => {
    const reply: Message = {
      ...message('01R', 'sure'),
      reply_to: { ulid: '01M', user_id: ANN, username: 'ann', excerpt: '', deleted: true },
    };
    expect(applyToQuote(change({ type: 'message_edited', content: 'back' }, ANN), reply)).toBe(reply);
  });

  it('an excerpt counts characters, not UTF-16 units', () => {
    expect(excerpt('ab')).toBe('ab');
    expect(Array.from(excerpt('🎉'.repeat(200)))).toHaveLength(EXCERPT_CHARS);
  });
});

describe('the messages as they are now', () => {
  const edit = (content: string) => change({ type: 'message_edited', content }, ANN);
  const log = [edit('one'), change({ type: 'reaction_added', emoji: '👍' }, BOB), edit('two')];

  // Applying every logged change to every snapshot (no `from`) was seen
  // failing: the fresh page got the reaction it already reflected... and
  // would double-apply an older reaction removal over a newer add.
  it('apply only the changes newer than each snapshot, to the message and to replies quoting it', () => {
    const reply: Message = { ...message('01R', 're'), reply_to: { ulid: '01M', user_id: ANN, excerpt: 'hi' } };
    const [fresh, stale, quoting] = withChanges(
      [
        { message: message(), from: 2 },
        { message: message(), from: 0 },
        { message: reply, from: 1 },
      ],
      log,
    );
    expect(fresh?.content).toBe('two');
    expect(fresh?.reactions).toBeUndefined();
    expect(stale).toMatchObject({ content: 'two', reactions: [{ emoji: '👍', user_ids: [BOB] }] });
    expect(quoting?.reply_to?.excerpt).toBe('two');
    expect(quoting?.content).toBe('re');
  });

  it('show unconfirmed changes on top, and drop them without a trace (a refusal)', () => {
    const snapshot = [{ message: message(), from: 0 }];
    const mine = change({ type: 'reaction_added', emoji: '🎉' }, ANN);
    const optimistic = withChanges(snapshot, log, [mine, change({ type: 'message_deleted' }, ANN, '01X')]);
    expect(optimistic[0]?.reactions?.map((r) => r.emoji)).toEqual(['👍', '🎉']);
    expect(withChanges(snapshot, log, [])).toEqual(withChanges(snapshot, log));
    expect(withChanges(snapshot, log)[0]?.reactions?.map((r) => r.emoji)).toEqual(['👍']);
  });

  it('leave a message no change is about as it was (the same object)', () => {
    const other = message('01O');
    expect(withChanges([{ message: other, from: 0 }], log)[0]).toBe(other);
  });
});
