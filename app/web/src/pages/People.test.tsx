// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { User } from '../api/client';
import { PeoplePicker } from './People';

const user = (n: number): User => ({ user_id: `u${n}`, email: `p${n}@example.com`, meta: { username: `p${n}` } }) as User;

function Picker({ max }: { max: number }) {
  const [chosen, setChosen] = useState<User[]>([]);
  return <PeoplePicker chosen={chosen} onChange={setChosen} max={max} />;
}

describe('the people picker', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  // Without the 300 ms debounce (the lookup on every keystroke) this was
  // seen failing with three lookups (one per key from two characters on).
  it('looks people up once typing pauses, and stops at the limit', async () => {
    const lookups: string[] = [];
    vi.stubGlobal('fetch', async (request: Request) => {
      const email = new URL(request.url).searchParams.get('email') ?? '';
      lookups.push(email);
      return new Response(JSON.stringify([user(1), user(2)]), { headers: { 'content-type': 'application/json' } });
    });
    render(<Picker max={1} />);
    const search = screen.getByLabelText('Add people by e-mail');
    // Typing at a person's pace: 50 ms between keys.
    for (const term of ['p', 'p@', 'p@e', 'p@ex']) {
      fireEvent.change(search, { target: { value: term } });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    fireEvent.click(await screen.findByRole('button', { name: 'Add p1@example.com' }));
    expect(lookups).toEqual(['p@ex']);
    expect(screen.getByRole('button', { name: 'Remove p1@example.com' })).toBeTruthy();
    expect(screen.getByText('1 of 1 people added.')).toBeTruthy();
    expect((screen.getByLabelText('Add people by e-mail') as HTMLInputElement).disabled).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Remove p1@example.com' }));
    await waitFor(() => expect((screen.getByLabelText('Add people by e-mail') as HTMLInputElement).disabled).toBe(false));
  });
});
