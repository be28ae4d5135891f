// @vitest-environment jsdom
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Router } from 'wouter';
import { memoryLocation } from 'wouter/memory-location';
import { AuthPage } from './Auth';

function renderAt(path: string, mode: 'login' | 'signup') {
  const location = memoryLocation({ path, record: true });
  render(
    <QueryClientProvider client={new QueryClient()}>
      <Router hook={location.hook} searchHook={location.searchHook}>
        <AuthPage mode={mode} />
      </Router>
    </QueryClientProvider>,
  );
  return location;
}

function fill(fields: Record<string, string>) {
  for (const [label, value] of Object.entries(fields)) fireEvent.change(screen.getByLabelText(label), { target: { value } });
}

describe('the sign-up and log-in page', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('shows the server’s own message when sign-up is refused', async () => {
    vi.stubGlobal('fetch', async () =>
      new Response(JSON.stringify({ detail: 'A user with this email already exists' }), { status: 409, headers: { 'content-type': 'application/json' } }),
    );
    renderAt('/signup', 'signup');
    fill({ Username: 'ann', Email: 'ann@example.com', Password: 'correct horse' });
    fireEvent.click(screen.getByRole('button', { name: 'Create an account' }));
    expect((await screen.findByRole('alert')).textContent).toBe('A user with this email already exists');
  });

  it('goes to ?next= after logging in, and never off the site', async () => {
    vi.stubGlobal('fetch', async () =>
      new Response(JSON.stringify({ user_id: 'u1', email: 'ann@example.com', meta: { username: 'ann' } }), { headers: { 'content-type': 'application/json' } }),
    );
    const inside = renderAt('/login?next=%2Fchats%2Fabc', 'login');
    fill({ Email: 'ann@example.com', Password: 'correct horse' });
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    await vi.waitFor(() => expect(inside.history.at(-1)).toBe('/chats/abc'));
    cleanup();
    const outside = renderAt('/login?next=%2F%2Fevil.example', 'login');
    fill({ Email: 'ann@example.com', Password: 'correct horse' });
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    await vi.waitFor(() => expect(outside.history.at(-1)).toBe('/chats'));
  });
});
