import { describe, expect, it } from 'vitest';
import { mentionParts } from './mentions';

// The cases of app/src/domain/mention.rs's tests.
describe('mentions in a message', () => {
  const ann = ['A', 'Ann'] as [string, string];
  const bob = ['B', 'bob'] as [string, string];

  it('a member named with @ is marked, in place, mine distinctly', () => {
    expect(mentionParts('hi @BOB and @ann, @bob!', [bob, ann], 'A')).toEqual([
      { text: 'hi ' },
      { mention: '@BOB', user: 'B', me: false },
      { text: ' and ' },
      { mention: '@ann', user: 'A', me: true },
      { text: ', ' },
      { mention: '@bob', user: 'B', me: false },
      { text: '!' },
    ]);
    expect(mentionParts('(@ann)', [ann], 'B')).toEqual([{ text: '(' }, { mention: '@ann', user: 'A', me: false }, { text: ')' }]);
  });

  it('e-mails, longer names and people not mentioned are text', () => {
    for (const text of ['mail ann@example.com', '@annabel is not here', '@carol', 'ann bob', '@'])
      expect(mentionParts(text, [ann, bob], 'A')).toEqual([{ text }]);
    // Only the members the server found are marked.
    expect(mentionParts('@bob', [ann], 'A')).toEqual([{ text: '@bob' }]);
  });

  it('the longest matching username wins; usernames beyond ASCII compare without case', () => {
    const annLee = ['L', 'Ann Lee'] as [string, string];
    expect(mentionParts('thanks @ann lee!', [ann, annLee], 'A')[1]).toEqual({ mention: '@ann lee', user: 'L', me: false });
    expect(mentionParts('thanks @ann, lee', [ann, annLee], 'A')[1]).toEqual({ mention: '@ann', user: 'A', me: true });
    expect(mentionParts('@ÉLODIE ça va', [['Z', 'élodie']], 'Z')[0]).toEqual({ mention: '@ÉLODIE', user: 'Z', me: true });
    expect(mentionParts('👋@élodie', [['Z', 'élodie']], 'A')).toEqual([{ text: '👋' }, { mention: '@élodie', user: 'Z', me: false }]);
  });
});
