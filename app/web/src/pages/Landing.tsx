import { Link } from 'wouter';

export function Landing() {
  return (
    <main className="landing">
      <div className="brand-mark" aria-hidden="true">H</div>
      <h1>Harmony</h1>
      <p>Chat in real time with the people you work with.</p>
      <nav className="actions" aria-label="Get started">
        <Link href="/signup" className="button primary">Create an account</Link>
        <Link href="/login" className="button">Log in</Link>
      </nav>
    </main>
  );
}
