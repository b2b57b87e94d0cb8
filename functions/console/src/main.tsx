import './zodJitless.js';
import './console.css';
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { AdminView } from './admin.js';
import { ApiError, type Me, ReviewerApi } from './api.js';
import { ItemView } from './itemView.js';
import { QueueView } from './queueView.js';
import { clearToken, devToken, type SignInRole, signInRoles, storedToken, storeToken } from './session.js';

/**
 * The reviewer console: sign in, the queue, an item, the admin view. Routes live in the URL's hash
 * (`#/queue`, `#/review/<id>`, `#/admin`), so the function serves one page and reloading keeps the place.
 */

type Session = { me: Me; token: string | null };

export type Route = { view: 'queue' } | { view: 'review'; id: string } | { view: 'admin' };

function parseRoute(hash: string): Route {
  const review = /^#\/review\/(rev_[A-Za-z0-9_-]{1,128})$/.exec(hash);
  if (review) return { view: 'review', id: review[1]! };
  if (hash === '#/admin') return { view: 'admin' };
  return { view: 'queue' };
}

export const hrefOf = (route: Route): string =>
  route.view === 'review' ? `#/review/${route.id}` : `#/${route.view}`;

function useRoute(): [Route, (r: Route) => void] {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const navigate = useCallback((r: Route) => {
    location.hash = hrefOf(r);
  }, []);
  return [route, navigate];
}

function App() {
  const token = useRef<string | null>(storedToken());
  const api = useMemo(() => new ReviewerApi(() => ({ token: token.current })), []);
  const [session, setSession] = useState<Session | 'loading' | null>('loading');
  const [route, navigate] = useRoute();

  useEffect(() => {
    // A stored dev token, else the identity-aware proxy's sign-in (no token at all), else the sign-in form.
    api.me().then(
      (me) => setSession({ me, token: token.current }),
      () => {
        token.current = null;
        clearToken();
        setSession(null);
      },
    );
  }, [api]);

  const signIn = async (t: string) => {
    token.current = t;
    const me = await api.me();
    storeToken(t);
    setSession({ me, token: t });
  };
  const signOut = () => {
    token.current = null;
    clearToken();
    setSession(null);
    navigate({ view: 'queue' });
  };

  if (session === 'loading') return <p class="loading">Loading the reviewer console…</p>;
  if (session === null) return <SignIn onSignIn={signIn} />;

  const isReviewer = session.me.roles.includes('reviewer');
  const isAdmin = session.me.roles.includes('admin');
  const view: Route = !isReviewer && isAdmin ? { view: 'admin' } : route;
  return (
    <>
      <a class="skip" href="#main">
        Skip to the main content
      </a>
      <header class="top">
        <p class="brand">Reviewer console</p>
        <nav aria-label="Views">
          <ul>
            {isReviewer && (
              <li>
                <a href="#/queue" aria-current={view.view !== 'admin' ? 'page' : undefined}>
                  Queue
                </a>
              </li>
            )}
            {isAdmin && (
              <li>
                <a href="#/admin" aria-current={view.view === 'admin' ? 'page' : undefined}>
                  Admin
                </a>
              </li>
            )}
          </ul>
        </nav>
        <p class="who">
          Signed in as <strong>{session.me.subject}</strong> ({session.me.tenant},{' '}
          {session.me.roles.join(', ')})
        </p>
        {session.token && (
          <button type="button" class="secondary small" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {view.view === 'admin' && isAdmin && <AdminView api={api} />}
        {view.view === 'admin' && !isAdmin && <p>The admin view needs the admin role.</p>}
        {view.view === 'queue' && isReviewer && <QueueView api={api} navigate={navigate} />}
        {view.view === 'review' && isReviewer && (
          <ItemView key={view.id} id={view.id} api={api} me={session.me} navigate={navigate} />
        )}
      </main>
    </>
  );
}

function SignIn({ onSignIn }: { onSignIn: (token: string) => Promise<void> }) {
  const [tenant, setTenant] = useState('');
  const [subject, setSubject] = useState('');
  const [role, setRole] = useState<SignInRole>('reviewer');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await onSignIn(devToken(tenant.trim(), subject.trim(), role));
    } catch (err) {
      setError(
        err instanceof ApiError
          ? err.status === 401
            ? 'This gateway does not accept development sign-in (it runs behind Identity-Aware Proxy).'
            : err.detail
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="sign-in">
      <h1>Reviewer console</h1>
      <p>
        Sign in to review the model outputs that wait for a clinician's decision. On this local gateway you
        sign in with a development identity: your organisation (tenant) and your name.
      </p>
      <form onSubmit={submit}>
        <div class="field">
          <label for="tenant">Tenant</label>
          <input
            id="tenant"
            name="tenant"
            autoComplete="organization"
            required
            value={tenant}
            placeholder="acme"
            onInput={(e) => setTenant(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="subject">Your name</label>
          <input
            id="subject"
            name="subject"
            autoComplete="username"
            required
            value={subject}
            placeholder="rita"
            onInput={(e) => setSubject(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="role">Role</label>
          <select
            id="role"
            name="role"
            value={role}
            onChange={(e) => setRole(e.currentTarget.value as SignInRole)}
          >
            {signInRoles.map((r) => (
              <option key={r} value={r}>
                {r === 'reviewer' ? 'Reviewer' : 'Admin'}
              </option>
            ))}
          </select>
        </div>
        {error && (
          <p class="problem" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

render(<App />, document.getElementById('app')!);
