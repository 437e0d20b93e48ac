// The playground's authgate panel: a GraphiQL plugin that signs up, signs in
// and out with @authgate/client, shows who is signed in, and gives GraphiQL a
// fetcher that attaches the access token (refreshed before it expires). It
// runs on the page authgate serves, with React and GraphiQL from the same
// origin (window.React), under the page's strict CSP.
//
// Built by `npm run build:playground` in clients/js into
// internal/playground/assets/authgate/ (committed; the binary embeds it).
import { createClient, isUnauthenticated, type AuthgateClient, type AuthSession } from '../src/index.js';

/* The React 18 UMD global the page loads; only what the panel uses. */
interface ReactLike {
  createElement(type: unknown, props?: Record<string, unknown> | null, ...children: unknown[]): unknown;
  useState<T>(initial: T): [T, (v: T) => void];
  useEffect(effect: () => void | (() => void), deps?: unknown[]): void;
}

type Fetcher = (params: unknown, opts?: { headers?: Record<string, string>; [k: string]: unknown }) => unknown;

interface Authgate {
  fetcher(base: Fetcher): Fetcher;
  plugin: { title: string; icon: () => unknown; content: () => unknown };
}

declare global {
  interface Window {
    React: ReactLike;
    authgateStart?: (make: (url: string) => Authgate) => void;
    authgateClient?: AuthgateClient;
  }
}

function make(url: string): Authgate {
  const React = window.React;
  const h = React.createElement;
  const client = createClient({ url, storage: 'localStorage', storageKey: 'authgate-playground' });
  window.authgateClient = client;

  const hasAuthorization = (headers: Record<string, string>) => Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');

  const fetcher = (base: Fetcher): Fetcher => async (params, opts = {}) => {
    const headers = { ...(opts.headers ?? {}) };
    // A header typed into GraphiQL's Headers tab wins over the panel's token.
    const own = hasAuthorization(headers);
    const token = own ? null : await client.getAccessToken().catch(() => null);
    if (token) headers.Authorization = `Bearer ${token}`;
    const result = (await base(params, { ...opts, headers })) as { errors?: unknown } | null;
    if (!token || !isUnauthenticated(result?.errors)) return result;
    const fresh = await client.refreshSession().catch(() => null);
    if (!fresh || fresh.accessToken === token) return result;
    return base(params, { ...opts, headers: { ...headers, Authorization: `Bearer ${fresh.accessToken}` } });
  };

  function useSession(): AuthSession | null {
    const [session, setSession] = React.useState<AuthSession | null>(null);
    React.useEffect(() => {
      let live = true;
      void client.getSession().then((s) => live && setSession(s));
      const off = client.onAuthStateChange((_e, s) => setSession(s));
      return () => {
        live = false;
        off();
      };
    }, []);
    return session;
  }

  function useNow(): number {
    const [now, setNow] = React.useState(Date.now());
    React.useEffect(() => {
      const t = setInterval(() => setNow(Date.now()), 1000);
      return () => clearInterval(t);
    }, []);
    return now;
  }

  function field(label: string, name: string, type: string, autocomplete: string) {
    return h('label', { className: 'authgate-field' }, label, h('input', { name, type, autoComplete: autocomplete, required: true }));
  }

  function SignInForm() {
    const [error, setError] = React.useState<string>('');
    const [busy, setBusy] = React.useState(false);
    const submit = async (ev: Event, mode: 'in' | 'up') => {
      ev.preventDefault();
      const form = (ev.target as HTMLElement).closest('form') as HTMLFormElement;
      const data = new FormData(form);
      const input = { email: String(data.get('email') ?? ''), password: String(data.get('password') ?? ''), description: 'playground' };
      setBusy(true);
      setError('');
      try {
        await (mode === 'up' ? client.signUp(input) : client.signIn(input));
      } catch (e) {
        const err = e as { code?: string; message?: string; retryAfter?: number };
        setError(`${err.code ?? 'ERROR'}: ${err.message ?? e}${err.retryAfter ? ` (try again in ${err.retryAfter} s)` : ''}`);
      } finally {
        setBusy(false);
      }
    };
    return h(
      'form',
      { className: 'authgate-form', onSubmit: (ev: Event) => submit(ev, 'in') },
      h('p', null, 'Sign in, and every query from here on carries your access token, refreshed before it expires.'),
      field('Email', 'email', 'email', 'username'),
      field('Password', 'password', 'password', 'current-password'),
      h(
        'div',
        { className: 'authgate-buttons' },
        h('button', { type: 'submit', className: 'authgate-primary', disabled: busy }, 'Sign in'),
        h('button', { type: 'button', disabled: busy, onClick: (ev: Event) => submit(ev, 'up') }, 'Sign up'),
      ),
      error ? h('p', { className: 'authgate-error', role: 'alert' }, error) : null,
    );
  }

  function SignedIn({ session }: { session: AuthSession }) {
    const now = useNow();
    const left = Math.max(0, Math.round((Date.parse(session.accessTokenExpiresAt) - now) / 1000));
    const row = (k: string, v: string, cls = '') => h('div', { className: 'authgate-row' }, h('dt', null, k), h('dd', { className: cls }, v));
    return h(
      'div',
      { className: 'authgate-signed-in' },
      h('p', null, 'Signed in as ', h('strong', { className: 'authgate-email' }, session.user.email)),
      h(
        'dl',
        null,
        row('user id', session.user.id),
        row('roles', session.user.allowedRoles.join(', ')),
        row('session id', session.sessionId, 'authgate-session-id'),
        row('token expires', `${new Date(session.accessTokenExpiresAt).toLocaleTimeString()} (in ${left} s)`, 'authgate-expiry'),
      ),
      h('p', { className: 'authgate-hint' }, 'Queries carry this token as Authorization: Bearer …; a header set in the Headers tab wins.'),
      h('button', { type: 'button', className: 'authgate-primary', onClick: () => void client.signOut().catch(() => undefined) }, 'Sign out'),
    );
  }

  function Panel() {
    const session = useSession();
    return h('div', { className: 'authgate-panel' }, h('div', { className: 'graphiql-doc-explorer-title' }, 'authgate'), session ? h(SignedIn, { session }) : h(SignInForm));
  }

  const icon = () =>
    h(
      'svg',
      { viewBox: '0 0 24 24', width: '1em', height: '1em', fill: 'none', stroke: 'currentColor', strokeWidth: 1.5, 'aria-hidden': true },
      h('rect', { x: 5, y: 11, width: 14, height: 9, rx: 1.5 }),
      h('path', { d: 'M8 11V8a4 4 0 0 1 8 0v3' }),
    );

  return { fetcher, plugin: { title: 'authgate: sign in', icon, content: () => h(Panel) } };
}

window.authgateStart?.(make);
