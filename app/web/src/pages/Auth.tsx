import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { api, problem } from '../api/client';

/** Log in, or sign up and then log in; the server's messages are shown as they are. */
export function AuthPage({ mode }: { mode: 'login' | 'signup' }) {
  const client = useQueryClient();
  const [, navigate] = useLocation();
  const next = new URLSearchParams(useSearch()).get('next') ?? '/chats';
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const email = String(form.get('email'));
    const password = String(form.get('password'));
    setBusy(true);
    setError('');
    try {
      if (mode === 'signup') {
        const username = String(form.get('username'));
        const created = await api.POST('/api/v1/users/', { body: { email, password, username } });
        if (created.error) return setError(problem(created.error));
      }
      const session = await api.POST('/api/v1/auth/session', { body: { email, password } });
      if (session.error) return setError(problem(session.error));
      client.setQueryData(['me'], session.data);
      navigate(next.startsWith('/') && !next.startsWith('//') ? next : '/chats');
    } finally {
      setBusy(false);
    }
  }

  const title = mode === 'login' ? 'Log in' : 'Create an account';
  return (
    <main className="centered">
      <form className="card auth" onSubmit={submit} aria-labelledby="auth-title">
        <h1 id="auth-title">{title}</h1>
        {mode === 'signup' && (
          <label>
            Username
            <input name="username" autoComplete="username" maxLength={64} />
          </label>
        )}
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required maxLength={254} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete={mode === 'login' ? 'current-password' : 'new-password'} required minLength={mode === 'signup' ? 8 : undefined} maxLength={128} />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button className="button primary" type="submit" disabled={busy}>{title}</button>
        <p className="muted">
          {mode === 'login' ? <>No account? <Link href="/signup">Sign up</Link></> : <>Have an account? <Link href="/login">Log in</Link></>}
        </p>
      </form>
    </main>
  );
}
