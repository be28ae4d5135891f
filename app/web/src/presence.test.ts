// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { joined, left, online, replay } from './presence';

describe('presence', () => {
  it('a person is online while any of their devices is connected', () => {
    let present = joined({}, 'c1', 'ann');
    present = joined(present, 'c2', 'ann');
    present = joined(present, 'c3', 'bob');
    expect(online(present).sort()).toEqual(['ann', 'bob']);
    present = left(present, 'c1');
    expect(online(present).sort()).toEqual(['ann', 'bob']);
    present = left(present, 'c2');
    expect(online(present)).toEqual(['bob']);
    expect(left(present, 'c9')).toBe(present);
    expect(joined(present, 'c3', 'bob')).toBe(present);
  });

  it('joins and leaves heard while the list was read apply after it', () => {
    const listed = { c1: 'ann', c2: 'bob' };
    const present = replay(listed, [
      { kind: 'leave', client: 'c2', user: 'bob' },
      { kind: 'join', client: 'c3', user: 'cid' },
      { kind: 'join', client: 'c1', user: 'ann' },
    ]);
    expect(present).toEqual({ c1: 'ann', c3: 'cid' });
  });
});
