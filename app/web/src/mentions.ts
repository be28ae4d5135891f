// `@username` of a member in a message's text, found by the platform's rule
// (app/src/domain/mention.rs): `@` at the start or after a character that is
// not a letter, digit or `_`, then the username without case (the longest
// wins), then a character that is not one of those. Only the members the
// server says the message mentions (`mentions`) are looked for.

export type Part = { text: string } | { mention: string; user: string; me: boolean };

const WORD = /[\p{L}\p{N}_]/u;
const isWord = (c: string | undefined) => c !== undefined && WORD.test(c);

/** `content` split into text and mentions of `mentioned` ([user id, username]). */
export function mentionParts(content: string, mentioned: [string, string][], me: string): Part[] {
  const names = mentioned
    .filter(([, name]) => name)
    .map(([user, name]) => ({ user, name: Array.from(name) }))
    .sort((a, b) => b.name.length - a.name.length);
  const chars = Array.from(content);
  const parts: Part[] = [];
  let text = '';
  let i = 0;
  while (i < chars.length) {
    const starts = chars[i] === '@' && !isWord(chars[i - 1]);
    const found = starts ? names.find(({ name }) => spells(chars, i + 1, name)) : undefined;
    if (!found) {
      text += chars[i];
      i += 1;
      continue;
    }
    if (text) parts.push({ text });
    text = '';
    const end = i + 1 + found.name.length;
    parts.push({ mention: chars.slice(i, end).join(''), user: found.user, me: found.user === me });
    i = end;
  }
  if (text) parts.push({ text });
  return parts;
}

/** `chars` from `at` spell `name` (without case), followed by a boundary. */
function spells(chars: string[], at: number, name: string[]): boolean {
  for (let k = 0; k < name.length; k += 1) {
    const c = chars[at + k];
    if (c === undefined || (c !== name[k] && c.toLowerCase() !== name[k]!.toLowerCase())) return false;
  }
  return !isWord(chars[at + name.length]);
}
