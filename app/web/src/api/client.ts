// The typed API client (types generated from docs/openapi.json). Sessions
// live in HTTP-only cookies: requests that change state echo the readable
// CSRF cookie in `x-csrf-token`, and a 401 triggers one refresh shared by
// every request that got it, then a retry.
import createClient from 'openapi-fetch';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Message = Schemas['ChatMessageResponse'];
export type User = Schemas['UserResponse'];
export type ChatItem = Schemas['ChatItem'];

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function readCookie(name: string): string {
  const found = document.cookie.split('; ').find((part) => part.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : '';
}

function withCsrf(request: Request): Request {
  if (UNSAFE.has(request.method)) request.headers.set('x-csrf-token', readCookie('csrf_token'));
  return request;
}

let refreshing: Promise<boolean> | null = null;

/** Renews the session cookies; concurrent callers share one request. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= fetch('/api/v1/auth/session/refresh', {
    method: 'POST',
    headers: { 'x-csrf-token': readCookie('csrf_token') },
    credentials: 'same-origin',
  })
    .then((response) => response.ok)
    .catch(() => false)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

let signedOut: () => void = () => {};

/** What to do when the session cannot be renewed (go to the login page). */
export function onSignedOut(handler: () => void): void {
  signedOut = handler;
}

async function send(request: Request): Promise<Response> {
  const retry = request.clone();
  const response = await fetch(withCsrf(request));
  if (response.status !== 401 || request.url.includes('/auth/session')) return response;
  // No CSRF cookie: no session to renew (a visitor who never signed in).
  if (!readCookie('csrf_token')) return response;
  if (!(await refreshSession())) {
    signedOut();
    return response;
  }
  return fetch(withCsrf(retry));
}

// Absolute, so the same client also runs under Node (component tests).
export const api = createClient<paths>({ baseUrl: location.origin, fetch: send, credentials: 'same-origin' });

/** A message a person can act on, from the API's `{"detail": ...}` error body. */
export function problem(error: unknown, fallback = 'Something went wrong; try again.'): string {
  const detail = (error as { detail?: unknown } | undefined)?.detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail.map((d: { msg?: string; loc?: unknown[] }) => `${String(d.loc?.at(-1) ?? '')}: ${d.msg ?? ''}`).join('; ');
  }
  return fallback;
}
