// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { heard, isTyping, stopped, TYPING_REPEAT_MS, TYPING_TTL_MS, typingAt, typingSender, typingText } from './typing';

describe('typing', () => {
  it('sending says nothing (the message ends the typing); a refused typing is said again while still typing', () => {
    let now = 0;
    const said: boolean[] = [];
    const sender = typingSender((active) => said.push(active), () => now);
    sender.input('hi');
    sender.refused();
    expect(said).toEqual([true, true]);
    sender.sent();
    sender.refused();
    sender.stop();
    expect(said).toEqual([true, true]);
    now = 10;
    sender.input('next');
    expect(said).toEqual([true, true, true]);
  });

  it('says typing when writing starts, again only every few seconds, and stopped once', () => {
    let now = 0;
    const said: boolean[] = [];
    const sender = typingSender((active) => said.push(active), () => now);
    sender.input('h');
    now = 1000;
    sender.input('he');
    expect(said).toEqual([true]);
    now = TYPING_REPEAT_MS;
    sender.input('hel');
    expect(said).toEqual([true, true]);
    sender.input('   ');
    sender.stop();
    expect(said).toEqual([true, true, false]);
    sender.stop();
    sender.input('x');
    sender.stop();
    expect(said).toEqual([true, true, false, true, false]);
    // The repeat stays under the TTL, so the others never see a gap.
    expect(TYPING_REPEAT_MS).toBeLessThan(TYPING_TTL_MS);
  });

  it('someone types until they stop, send, or are silent for the TTL', () => {
    let typists = heard({}, 'ann', true, 0);
    typists = heard(typists, 'bob', true, 1000);
    expect(typingAt(typists, 1000)).toEqual(['ann', 'bob']);
    expect(typingAt(typists, TYPING_TTL_MS)).toEqual(['bob']);
    typists = heard(typists, 'ann', true, 4000);
    expect(typingAt(typists, TYPING_TTL_MS)).toEqual(['ann', 'bob']);
    typists = heard(typists, 'ann', false, 4500);
    expect(typingAt(typists, 4500)).toEqual(['bob']);
    typists = stopped(typists, 'bob');
    expect(typingAt(typists, 4500)).toEqual([]);
    expect(stopped(typists, 'bob')).toBe(typists);
  });

  it('only the exact typing shape is typing', () => {
    expect(isTyping({ type: 'typing', active: false })).toBe(true);
    expect(isTyping({ type: 'typing' })).toBe(false);
    expect(isTyping({ type: 'message_edited', active: true })).toBe(false);
    expect(isTyping(null)).toBe(false);
  });

  it('says who is typing', () => {
    expect(typingText([])).toBe('');
    expect(typingText(['Ann'])).toBe('Ann is typing…');
    expect(typingText(['Ann', 'Bob'])).toBe('Ann and Bob are typing…');
    expect(typingText(['Ann', 'Bob', 'Cid'])).toBe('Ann, Bob and Cid are typing…');
    expect(typingText(['Ann', 'Bob', 'Cid', 'Dee'])).toBe('Several people are typing…');
  });
});
