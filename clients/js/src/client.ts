import { AuthgateError, errorFrom, isUnauthenticated, sessionEndingCodes } from './errors.js';
import { Coordinator } from './coordinator.js';
import { openStore, parseStoredSession, type SessionStore, type StorageLike, type StorageOption, type StoredSession } from './storage.js';
import { authOriginFrom, codeChallengeS256, createCodeVerifier, parseProviderRedirect, providerSignInUrl } from './providers.js';
import { ceremony, creationOptionsFromJSON, credentialToJSON, requestOptionsFromJSON, type PasskeyCredential } from './webauthn.js';

/** A user, as authgate's `User` type. */
export interface User {
  id: string;
  email: string;
  defaultRole: string;
  allowedRoles: string[];
  createdAt: string;
  claims: Record<string, unknown>;
  /** True once the user proved they read mail at the address. */
  emailVerified: boolean;
  [field: string]: unknown;
}

/** A passkey of the user, as authgate's `Passkey` type. */
export interface Passkey {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** An identity provider's account linked to the user, as authgate's `Identity` type. */
export interface Identity {
  provider: string;
  subject: string;
  email: string | null;
  createdAt: string;
}

/** The user as me() answers it: the User plus its second factors and linked identities. */
export interface UserDetails extends User {
  totpEnabled: boolean;
  passkeys: Passkey[];
  identities: Identity[];
}

/** The signed-in state: authgate's `AuthPayload` without the refresh token, which the client keeps to itself. */
export interface AuthSession {
  accessToken: string;
  accessTokenExpiresAt: string;
  refreshTokenExpiresAt: string;
  sessionId: string;
  user: User;
}

/** One of the caller's live sessions, as authgate's `Session` type (`sessions()`). */
export interface Session {
  id: string;
  description: string | null;
  userAgent: string | null;
  ip: string | null;
  createdAt: string;
  lastActivityAt: string;
  expiresAt: string;
  current: boolean;
}

/** What onAuthStateChange reports. */
export type AuthChangeEvent = 'SIGNED_IN' | 'TOKEN_REFRESHED' | 'SIGNED_OUT';

/** The options of createClient. */
export interface ClientOptions {
  /** authgate's GraphQL endpoint (`https://auth.example.com/graphql`), or Hasura's (`https://hasura.example.com/v1/graphql`) when authgate is mounted through Actions. */
  url: string;
  /** Where the session is kept; `'memory'` by default. */
  storage?: StorageOption;
  /** Seconds before expiry at which an access token is refreshed (default 30; never more than half the token's lifetime). */
  refreshMargin?: number;
  /** The storage key, and the name of the cross-tab lock and channel (default `authgate:` + url). */
  storageKey?: string;
  /** Refresh on a timer ahead of expiry, so a token is ready before it is asked for (default true). */
  autoRefresh?: boolean;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Headers sent with every request the client makes. */
  headers?: Record<string, string>;
  /**
   * Where browsers reach authgate itself (AUTHGATE_PUBLIC_URL), for provider
   * sign-in's /auth/{provider}/start. Default: url less its `/graphql`; needed
   * when url is Hasura's `/v1/graphql`.
   */
  authOrigin?: string;
  /**
   * Where a provider sign-in's PKCE code verifier waits, from the start to
   * the page it comes back to (key: storageKey + `:pkce`). Default:
   * sessionStorage (this tab only), or this client's memory where there is
   * none (Node).
   */
  flowStorage?: StorageLike;
}

/** A StorageLike in memory: the verifier's place where there is no sessionStorage. */
class MemoryStorage implements StorageLike {
  private readonly items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
}

function defaultFlowStorage(): StorageLike {
  try {
    const ss = (globalThis as { sessionStorage?: Storage }).sessionStorage;
    if (ss && typeof ss.getItem === 'function') return ss;
  } catch {
    // A sandboxed frame throws on touching sessionStorage.
  }
  return new MemoryStorage();
}

const USER_FIELDS = 'id email defaultRole allowedRoles createdAt claims emailVerified';
const PASSKEY_FIELDS = 'id name createdAt lastUsedAt';
const ME_FIELDS = `${USER_FIELDS} totpEnabled passkeys { ${PASSKEY_FIELDS} } identities { provider subject email createdAt }`;
const PAYLOAD = `accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt sessionId user { ${USER_FIELDS} }`;
const SESSION_FIELDS = 'id description userAgent ip createdAt lastActivityAt expiresAt current';

interface Answer {
  data: Record<string, unknown> | null;
  errors?: unknown[];
  status: number;
  retryAfter: string | null;
}

type Listener = (event: AuthChangeEvent, session: AuthSession | null) => void;

interface Message {
  type: 'changed' | 'session' | 'signed-out' | 'hello';
  session?: StoredSession;
}

function decodeClaims(jwt: string): { iat?: number; exp?: number } {
  try {
    const part = jwt.split('.')[1] ?? '';
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((part.length + 3) % 4);
    return JSON.parse(atob(b64));
  } catch {
    return {};
  }
}

/** toStored keeps a payload with its expiry by this machine's clock, so a skewed clock never makes the client refresh too late. */
function toStored(p: Record<string, unknown>, receivedAt: number): StoredSession {
  const accessToken = String(p.accessToken);
  const { iat, exp } = decodeClaims(accessToken);
  // iat and exp are whole seconds and authgate truncates the issuing instant
  // to one, so a token lives between exp − iat − 1 s and exp − iat: count on
  // the shorter.
  const lifetime =
    typeof iat === 'number' && typeof exp === 'number' && exp - iat > 2
      ? (exp - iat - 1) * 1000
      : Math.max(0, Date.parse(String(p.accessTokenExpiresAt)) - receivedAt - 1000);
  return {
    accessToken,
    accessTokenExpiresAt: String(p.accessTokenExpiresAt),
    refreshToken: typeof p.refreshToken === 'string' && p.refreshToken !== '' ? p.refreshToken : null,
    refreshTokenExpiresAt: String(p.refreshTokenExpiresAt),
    sessionId: String(p.sessionId),
    user: p.user,
    expiresAtLocal: receivedAt + lifetime,
    lifetime,
  };
}

/** newest is the later of two copies of one session (the one that expires last), or a if they are of different sessions. */
function newest(a: StoredSession | null, b: StoredSession | null): StoredSession | null {
  if (!a || !b || a.sessionId !== b.sessionId) return a;
  return b.expiresAtLocal > a.expiresAtLocal ? b : a;
}

function publicSession(s: StoredSession | null): AuthSession | null {
  if (!s) return null;
  return {
    accessToken: s.accessToken,
    accessTokenExpiresAt: s.accessTokenExpiresAt,
    refreshTokenExpiresAt: s.refreshTokenExpiresAt,
    sessionId: s.sessionId,
    user: s.user as User,
  };
}

/**
 * AuthgateClient keeps one user signed in: it signs in, keeps the access token
 * fresh (one refresh at a time across all tabs), and attaches it to requests.
 * Make one with createClient.
 */
export class AuthgateClient {
  /** The GraphQL endpoint the client talks to. */
  readonly url: string;
  private readonly store: SessionStore;
  private readonly coordinator: Coordinator;
  private readonly margin: number;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: Record<string, string>;
  private readonly autoRefresh: boolean;
  private readonly key: string;
  private readonly authOrigin: string | undefined;
  private readonly flowStorage: StorageLike;
  private current: StoredSession | null = null;
  /** The newest session another tab announced (localStorage and custom storage). */
  private heard: StoredSession | null = null;
  private listeners = new Set<Listener>();
  private refreshing: Promise<StoredSession | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly ready: Promise<void>;
  private readonly onStorage = (ev: StorageEvent) => {
    if (ev.key === this.key) void this.adopt(parseStoredSession(ev.newValue));
  };

  constructor(options: ClientOptions) {
    if (!options || typeof options.url !== 'string' || options.url === '') {
      throw new TypeError('@authgate/client: createClient needs { url }: authgate\'s GraphQL endpoint');
    }
    this.url = options.url;
    this.key = options.storageKey ?? `authgate:${options.url}`;
    this.store = openStore(options.storage, this.key);
    this.margin = Math.max(0, (options.refreshMargin ?? 30) * 1000);
    this.autoRefresh = options.autoRefresh ?? true;
    this.headers = options.headers ?? {};
    this.authOrigin = options.authOrigin ?? authOriginFrom(options.url);
    this.flowStorage = options.flowStorage ?? defaultFlowStorage();
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('@authgate/client: no fetch here; pass options.fetch');
    this.fetchImpl = (input, init) => f.call(globalThis, input, init);
    this.coordinator = new Coordinator(`authgate-refresh:${this.key}`, this.store.shared);
    this.coordinator.onMessage((m) => void this.receive(m as Message));
    const w = globalThis as { addEventListener?: typeof addEventListener };
    if (this.store.mode === 'localStorage' && typeof w.addEventListener === 'function') {
      w.addEventListener('storage', this.onStorage as EventListener);
    }
    this.ready = this.load();
  }

  private async load() {
    const stored = await this.store.read();
    if (stored) {
      await this.adopt(stored);
      return;
    }
    if (this.store.mode === 'cookie') {
      // Another tab may hold a fresh access token: ask before spending a refresh.
      this.coordinator.post({ type: 'hello' });
      await new Promise((r) => setTimeout(r, 50));
      if (!this.current) await this.refresh(undefined, true).catch(() => null);
    }
  }

  // ---- state and events ---------------------------------------------------

  /** onAuthStateChange calls cb(event, session) on every sign-in, refresh and sign-out (this tab's or another's); it returns a function that unsubscribes. */
  onAuthStateChange(cb: Listener): () => void {
    this.listeners.add(cb);
    return () => {
      this.listeners.delete(cb);
    };
  }

  /** getSession resolves to the signed-in state (maybe with an expired access token), or null. */
  async getSession(): Promise<AuthSession | null> {
    await this.ready;
    return publicSession(this.current);
  }

  private emit(event: AuthChangeEvent, s: StoredSession | null) {
    const pub = publicSession(s);
    for (const cb of [...this.listeners]) {
      try {
        cb(event, pub);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  /** adopt takes a session another tab (or storage) holds, without writing it back. */
  private async adopt(s: StoredSession | null) {
    const prev = this.current;
    if (prev?.accessToken === s?.accessToken) return;
    if (s && prev && prev.sessionId === s.sessionId && s.expiresAtLocal < prev.expiresAtLocal) return;
    this.current = s;
    this.schedule();
    if (!s) this.emit('SIGNED_OUT', null);
    else this.emit(prev && prev.sessionId === s.sessionId ? 'TOKEN_REFRESHED' : 'SIGNED_IN', s);
  }

  /** commit stores s (held under the lock), tells the other tabs, and reports event. */
  private async commit(s: StoredSession | null, event: AuthChangeEvent) {
    await this.store.write(s);
    const prev = this.current;
    this.current = s;
    this.schedule();
    // The session travels with the notice too: a tab's copy of localStorage
    // may lag a moment behind another tab's write, and the newest of the two
    // is what the next refresh must present.
    this.heard = null;
    this.coordinator.post(s ? { type: this.store.mode === 'cookie' ? 'session' : 'changed', session: s } : { type: 'signed-out' });
    if (!s && !prev) return;
    this.emit(event, s);
  }

  private async receive(m: Message) {
    if (this.closed || !m || typeof m !== 'object') return;
    switch (m.type) {
      case 'hello':
        if (this.store.mode === 'cookie' && this.current) this.coordinator.post({ type: 'session', session: this.current });
        return;
      case 'session':
        if (this.store.mode === 'cookie' && m.session) await this.adopt({ ...m.session, refreshToken: null });
        return;
      case 'signed-out':
        this.heard = null;
        if (this.store.mode !== 'localStorage') await this.store.write(null);
        await this.adopt(null);
        return;
      case 'changed':
        if (m.session && (!this.heard || m.session.expiresAtLocal > this.heard.expiresAtLocal)) this.heard = m.session;
        await this.adopt(newest(await this.store.read(), this.heard));
        return;
    }
  }

  // ---- refresh ------------------------------------------------------------

  /**
   * askPeers (cookie mode) asks the other tabs for their access token and
   * waits a moment for one fresher than ours: a tab that missed their
   * announcements (asleep, or just opened) then needs no refresh of its own.
   */
  private async askPeers() {
    const before = this.current?.accessToken;
    this.coordinator.post({ type: 'hello' });
    for (let i = 0; i < 5 && this.current?.accessToken === before; i++) await new Promise((r) => setTimeout(r, 10));
  }

  private marginFor(s: StoredSession) {
    return Math.min(this.margin, s.lifetime / 2);
  }

  private needsRefresh(s: StoredSession) {
    return s.expiresAtLocal - Date.now() <= this.marginFor(s);
  }

  private schedule() {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.current;
    if (!s || !this.autoRefresh || this.closed) return;
    // A little jitter keeps tabs whose timers were set by the same refresh
    // from all reaching for the lock in the same instant.
    const jitter = Math.random() * Math.min(500, this.marginFor(s) / 4);
    const due = Math.max(0, s.expiresAtLocal - this.marginFor(s) - Date.now() + jitter);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refresh().catch(() => {
        // Offline or the server busy: try again soon while the session lasts.
        if (this.current && !this.closed && this.timer === undefined) {
          this.timer = setTimeout(() => this.schedule(), 5000);
          (this.timer as unknown as { unref?: () => void }).unref?.();
        }
      });
    }, due);
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  /**
   * refresh makes sure a fresh access token is stored, with at most one
   * refresh in flight per browser profile. Under the lock it re-reads the
   * shared session first: another tab may have refreshed already (then its
   * result is used), or signed out. So a tab that wakes from sleep always
   * presents the newest refresh token, never one that was rotated meanwhile.
   * failed is an access token the server refused: refresh even if it looks
   * fresh. initial marks the cookie mode's first try, which may find no cookie.
   */
  private refresh(failed?: string, initial = false): Promise<StoredSession | null> {
    if (!this.refreshing) {
      this.refreshing = this.coordinator
        .exclusive(() => this.refreshHoldingLock(failed, initial))
        .finally(() => {
          this.refreshing = null;
        });
    }
    return this.refreshing;
  }

  private async refreshHoldingLock(failed: string | undefined, initial: boolean): Promise<StoredSession | null> {
    const cookie = this.store.mode === 'cookie';
    if (cookie && this.current && this.needsRefresh(this.current)) await this.askPeers();
    const latest = cookie ? this.current : newest(await this.store.read(), this.heard);
    if (!cookie) await this.adopt(latest);
    if (!latest && !cookie) return null;
    if (latest && latest.accessToken !== failed && !this.needsRefresh(latest)) return latest;
    if (!latest && !initial && !cookie) return null;
    try {
      const data = await this.call('refreshToken', `mutation($refreshToken: String!) { refreshToken(refreshToken: $refreshToken) { ${PAYLOAD} } }`, {
        refreshToken: latest?.refreshToken ?? '',
      });
      const s = toStored(data.refreshToken as Record<string, unknown>, Date.now());
      await this.commit(s, latest && latest.sessionId === s.sessionId ? 'TOKEN_REFRESHED' : 'SIGNED_IN');
      return s;
    } catch (e) {
      if (e instanceof AuthgateError && sessionEndingCodes.has(e.code)) {
        await this.commit(null, 'SIGNED_OUT');
        if (initial || (cookie && !latest)) return null;
      }
      throw e;
    }
  }

  /**
   * refreshSession refreshes now, even if the access token looks fresh (for
   * a token the app saw refused), unless another tab already did since; it
   * resolves to the new state, or null when nobody is signed in, and rejects
   * like getAccessToken.
   */
  async refreshSession(): Promise<AuthSession | null> {
    await this.ready;
    const s = this.current;
    if (!s) return null;
    return publicSession(await this.refresh(s.accessToken));
  }

  /**
   * getAccessToken resolves to a valid access token, refreshed first when it
   * expires within the refresh margin, or to null when nobody is signed in.
   * It rejects with an AuthgateError when a needed refresh fails (the session
   * has ended: SIGNED_OUT is reported too; or the network or server failed
   * while the stored token had expired).
   */
  async getAccessToken(): Promise<string | null> {
    await this.ready;
    const s = this.current;
    if (!s) return null;
    if (!this.needsRefresh(s)) return s.accessToken;
    try {
      return (await this.refresh())?.accessToken ?? null;
    } catch (e) {
      // Still valid, only inside the margin: use it; the next call tries again.
      const now = this.current;
      if (now && now.expiresAtLocal > Date.now() + 1000 && !(e instanceof AuthgateError && sessionEndingCodes.has(e.code))) {
        return now.accessToken;
      }
      throw e;
    }
  }

  // ---- transport ----------------------------------------------------------

  private async post(query: string, variables: Record<string, unknown> | undefined, token: string | null): Promise<Answer> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json', ...this.headers };
    if (token) headers.Authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await this.fetchImpl(this.url, {
        method: 'POST',
        headers,
        body: JSON.stringify(variables ? { query, variables } : { query }),
        credentials: this.store.mode === 'cookie' ? 'include' : 'same-origin',
      });
    } catch (e) {
      throw new AuthgateError('NETWORK_ERROR', `authgate could not be reached: ${(e as Error)?.message ?? e}`);
    }
    let body: { data?: Record<string, unknown> | null; errors?: unknown[] };
    try {
      body = await res.json();
    } catch {
      throw new AuthgateError('NETWORK_ERROR', `authgate answered HTTP ${res.status} without GraphQL JSON`, {}, res.status);
    }
    return { data: body?.data ?? null, errors: body?.errors, status: res.status, retryAfter: res.headers.get('Retry-After') };
  }

  private fail(a: Answer): never {
    const first = (Array.isArray(a.errors) && a.errors[0]) || { message: `HTTP ${a.status}` };
    throw errorFrom(first as { message?: unknown; extensions?: Record<string, unknown> }, a.status, a.retryAfter);
  }

  /** call runs a public operation (no bearer token: Hasura would refuse the whole request for an expired one) and returns data. */
  private async call(field: string, query: string, variables?: Record<string, unknown>): Promise<Record<string, unknown>> {
    const a = await this.post(query, variables, null);
    if (a.errors?.length || !a.data || a.data[field] === undefined) this.fail(a);
    return a.data;
  }

  /** publicValue runs a public operation and resolves to its field's value. */
  private async publicValue<T>(field: string, query: string, variables: Record<string, unknown>): Promise<T> {
    return (await this.call(field, query, variables))[field] as T;
  }

  /** run sends query with the access token (if any); on UNAUTHENTICATED it refreshes once and retries once. */
  private async run(query: string, variables: Record<string, unknown> | undefined, needSession: boolean): Promise<Answer> {
    const token = await this.getAccessToken();
    if (!token && needSession) throw new AuthgateError('NOT_SIGNED_IN', 'nobody is signed in');
    const a = await this.post(query, variables, token);
    if (!token || !(a.status === 401 || isUnauthenticated(a.errors))) return a;
    const fresh = await this.refresh(token).catch(() => null);
    if (!fresh || fresh.accessToken === token) return a;
    return this.post(query, variables, fresh.accessToken);
  }

  /**
   * graphql sends a query (to the client's url) with the access token when
   * someone is signed in, and resolves to its `data`; it rejects with an
   * AuthgateError carrying the first error's code. On UNAUTHENTICATED it
   * refreshes once and retries once.
   */
  async graphql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const a = await this.run(query, variables, false);
    if (a.errors?.length || !a.data) this.fail(a);
    return a.data as T;
  }

  /**
   * fetch is window.fetch with the access token attached (unless the request
   * sets Authorization itself). When the answer is HTTP 401 or a GraphQL
   * UNAUTHENTICATED (authgate) or invalid-jwt (Hasura) error, it refreshes
   * once and sends the request again once. A body given as a stream cannot be
   * sent twice; use a string.
   */
  async fetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const send = (token: string | null) => {
      const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
      if (token && !headers.has('Authorization')) headers.set('Authorization', `Bearer ${token}`);
      return this.fetchImpl(input instanceof Request ? input.clone() : input, { ...init, headers });
    };
    const token = await this.getAccessToken();
    const res = await send(token);
    if (!token || !(await this.refused(res))) return res;
    const fresh = await this.refresh(token).catch(() => null);
    if (!fresh || fresh.accessToken === token) return res;
    return send(fresh.accessToken);
  }

  private async refused(res: Response): Promise<boolean> {
    if (res.status === 401) return true;
    if (!(res.headers.get('Content-Type') ?? '').includes('json')) return false;
    try {
      return isUnauthenticated((await res.clone().json())?.errors);
    } catch {
      return false;
    }
  }

  private async signedIn(field: string, query: string, variables: Record<string, unknown>): Promise<AuthSession> {
    await this.ready;
    const data = await this.call(field, query, variables);
    const s = toStored(data[field] as Record<string, unknown>, Date.now());
    await this.coordinator.exclusive(() => this.commit(s, 'SIGNED_IN'));
    return publicSession(s)!;
  }

  private async authed<T>(field: string, query: string, variables?: Record<string, unknown>): Promise<T> {
    const a = await this.run(query, variables, true);
    if (a.errors?.length || !a.data || a.data[field] === undefined) this.fail(a);
    return a.data[field] as T;
  }

  // ---- password sign-in and sessions ---------------------------------------

  /**
   * signUp creates an account and signs in; locale (BCP 47) is the language
   * of the user's mails. Rejects with EMAIL_TAKEN, WEAK_PASSWORD,
   * BAD_USER_INPUT, FORBIDDEN, RATE_LIMITED (or EMAIL_NOT_VERIFIED when
   * verification is required: the account is made and a link mailed).
   */
  signUp(p: { email: string; password: string; description?: string; locale?: string }): Promise<AuthSession> {
    return this.signedIn(
      'signup',
      `mutation($email: String!, $password: String!, $description: String, $locale: String) { signup(email: $email, password: $password, description: $description, locale: $locale) { ${PAYLOAD} } }`,
      { email: p.email, password: p.password, description: p.description ?? null, locale: p.locale ?? null },
    );
  }

  /** signIn signs in with an email and password. Rejects with INVALID_CREDENTIALS, USER_DISABLED, RATE_LIMITED (retryAfter), or MFA_REQUIRED (extensions.ticket). */
  signIn(p: { email: string; password: string; description?: string }): Promise<AuthSession> {
    return this.signedIn('login', `mutation($identifier: String!, $password: String!, $description: String) { login(identifier: $identifier, password: $password, description: $description) { ${PAYLOAD} } }`, {
      identifier: p.email,
      password: p.password,
      description: p.description ?? null,
    });
  }

  /**
   * signOut ends this session on the server and forgets it in every tab. The
   * local sign-out happens even when the server cannot be reached; the
   * promise then rejects so the app can say so.
   */
  async signOut(): Promise<void> {
    await this.ready;
    let failure: unknown;
    await this.coordinator.exclusive(async () => {
      const cookie = this.store.mode === 'cookie';
      const s = cookie ? this.current : await this.store.read();
      if (s || cookie) {
        try {
          await this.call('revoke', 'mutation($refreshToken: String!) { revoke(refreshToken: $refreshToken) }', { refreshToken: s?.refreshToken ?? '' });
        } catch (e) {
          failure = e;
        }
      }
      await this.commit(null, 'SIGNED_OUT');
    });
    if (failure) throw failure;
  }

  /** signOutEverywhere ends every session of the user (this one too) and resolves to how many were ended. */
  async signOutEverywhere(): Promise<number> {
    const n = await this.authed<number>('revokeAllSessions', 'mutation { revokeAllSessions }');
    await this.coordinator.exclusive(() => this.commit(null, 'SIGNED_OUT'));
    return n;
  }

  /** sessions resolves to the user's live sessions, newest first (`current` marks this one). */
  sessions(): Promise<Session[]> {
    return this.authed<Session[]>('mySessions', `query { mySessions { ${SESSION_FIELDS} } }`);
  }

  /** revokeSession ends one of the user's sessions (by id, or { id }); ending the current one signs out here too. Rejects with NOT_FOUND. */
  async revokeSession(id: string | { id: string }): Promise<boolean> {
    const sid = typeof id === 'string' ? id : id.id;
    const ok = await this.authed<boolean>('revokeSession', 'mutation($id: ID!) { revokeSession(id: $id) }', { id: sid });
    if (this.current?.sessionId === sid) await this.coordinator.exclusive(() => this.commit(null, 'SIGNED_OUT'));
    return ok;
  }

  /** changePassword changes the password; every session ends and the client continues in the fresh one it gets. Rejects with INVALID_CREDENTIALS or WEAK_PASSWORD. */
  async changePassword(p: { oldPassword: string; newPassword: string }): Promise<AuthSession> {
    const payload = await this.authed<Record<string, unknown>>(
      'changePassword',
      `mutation($oldPassword: String!, $newPassword: String!) { changePassword(oldPassword: $oldPassword, newPassword: $newPassword) { ${PAYLOAD} } }`,
      { oldPassword: p.oldPassword, newPassword: p.newPassword },
    );
    const s = toStored(payload, Date.now());
    await this.coordinator.exclusive(() => this.commit(s, 'SIGNED_IN'));
    return publicSession(s)!;
  }

  // ---- second factors (issue 16) and the email change (issue 14) -----------

  /**
   * completeMfa finishes a sign-in that rejected with MFA_REQUIRED: pass its
   * `extensions.ticket` and a TOTP `code` or a `recoveryCode`. Rejects with
   * INVALID_MFA_CODE (`reason` ticket: sign in again; code: try another).
   */
  completeMfa(p: { ticket: string; code?: string; recoveryCode?: string; description?: string }): Promise<AuthSession> {
    return this.signedIn(
      'completeMfa',
      `mutation($ticket: String!, $code: String, $recoveryCode: String, $description: String) { completeMfa(ticket: $ticket, code: $code, recoveryCode: $recoveryCode, description: $description) { ${PAYLOAD} } }`,
      { ticket: p.ticket, code: p.code ?? null, recoveryCode: p.recoveryCode ?? null, description: p.description ?? null },
    );
  }

  /** enrollTotp starts turning TOTP on: `{ secret, otpauthUrl, qrCodePng }` (base64 PNG). */
  enrollTotp(): Promise<{ secret: string; otpauthUrl: string; qrCodePng: string }> {
    return this.authed('enrollTotp', 'mutation { enrollTotp { secret otpauthUrl qrCodePng } }');
  }

  /** confirmTotp turns TOTP on with its first code and resolves to the 10 recovery codes (shown once). */
  confirmTotp(p: { code: string }): Promise<string[]> {
    return this.authed('confirmTotp', 'mutation($code: String!) { confirmTotp(code: $code) }', { code: p.code });
  }

  /** disableTotp turns TOTP off, given a current TOTP code or a recovery code. */
  disableTotp(p: { code: string }): Promise<boolean> {
    return this.authed('disableTotp', 'mutation($code: String!) { disableTotp(code: $code) }', { code: p.code });
  }

  /** regenerateRecoveryCodes replaces the recovery codes, given a current code; resolves to the new ones. */
  regenerateRecoveryCodes(p: { code: string }): Promise<string[]> {
    return this.authed('regenerateRecoveryCodes', 'mutation($code: String!) { regenerateRecoveryCodes(code: $code) }', { code: p.code });
  }

  /** changeEmail mails a confirmation link for newEmail (always true, see docs/email.md). */
  changeEmail(p: { newEmail: string; redirectTo?: string; locale?: string }): Promise<boolean> {
    return this.authed('changeEmail', 'mutation($newEmail: String!, $redirectTo: String, $locale: String) { changeEmail(newEmail: $newEmail, redirectTo: $redirectTo, locale: $locale) }', {
      newEmail: p.newEmail,
      redirectTo: p.redirectTo ?? null,
      locale: p.locale ?? null,
    });
  }

  /** confirmEmailChange switches the address with the emailed token (no session needed). Rejects with INVALID_EMAIL_TOKEN or EMAIL_TAKEN. */
  async confirmEmailChange(p: { token: string }): Promise<boolean> {
    const data = await this.call('confirmEmailChange', 'mutation($token: String!) { confirmEmailChange(token: $token) }', { token: p.token });
    return data.confirmEmailChange as boolean;
  }

  /** revokeAccessToken revokes the access token in use (say it leaked from a device) and continues with a fresh one; the session lives on. */
  async revokeAccessToken(): Promise<boolean> {
    await this.ready;
    const token = await this.getAccessToken();
    if (!token) throw new AuthgateError('NOT_SIGNED_IN', 'nobody is signed in');
    const a = await this.post('mutation { revokeAccessToken }', undefined, token);
    if (a.errors?.length || !a.data || a.data.revokeAccessToken === undefined) this.fail(a);
    await this.refresh(token);
    return a.data.revokeAccessToken as boolean;
  }

  // ---- email: verification, password reset, sign-in by link or code (issue 14)

  /**
   * sendVerificationEmail mails a verification link (redirectTo, or the
   * server's AUTHGATE_APP_URL, with `type=verify&token=…`) when the address
   * has an unverified account. Always true: the answer tells nothing about
   * the address. Rejects with BAD_USER_INPUT (redirectTo not allowed),
   * RATE_LIMITED or EMAIL_NOT_CONFIGURED.
   */
  sendVerificationEmail(p: { email: string; redirectTo?: string; locale?: string }): Promise<boolean> {
    return this.publicValue('sendVerificationEmail', 'mutation($email: String!, $redirectTo: String, $locale: String) { sendVerificationEmail(email: $email, redirectTo: $redirectTo, locale: $locale) }', {
      email: p.email,
      redirectTo: p.redirectTo ?? null,
      locale: p.locale ?? null,
    });
  }

  /** verifyEmail verifies an address with the token of its link (no session needed). Rejects with INVALID_EMAIL_TOKEN. */
  verifyEmail(p: { token: string }): Promise<boolean> {
    return this.publicValue('verifyEmail', 'mutation($token: String!) { verifyEmail(token: $token) }', { token: p.token });
  }

  /** requestPasswordReset mails a reset link (`type=reset&token=…`) when the address has an account. Always true. Rejects like sendVerificationEmail. */
  requestPasswordReset(p: { email: string; redirectTo?: string; locale?: string }): Promise<boolean> {
    return this.publicValue('requestPasswordReset', 'mutation($email: String!, $redirectTo: String, $locale: String) { requestPasswordReset(email: $email, redirectTo: $redirectTo, locale: $locale) }', {
      email: p.email,
      redirectTo: p.redirectTo ?? null,
      locale: p.locale ?? null,
    });
  }

  /**
   * resetPassword sets a new password with the token of a reset link and
   * signs in (every other session of the user ends; SIGNED_IN). Rejects with
   * INVALID_EMAIL_TOKEN or WEAK_PASSWORD (the token then stays usable).
   */
  resetPassword(p: { token: string; newPassword: string; description?: string }): Promise<AuthSession> {
    return this.signedIn('resetPassword', `mutation($token: String!, $newPassword: String!, $description: String) { resetPassword(token: $token, newPassword: $newPassword, description: $description) { ${PAYLOAD} } }`, {
      token: p.token,
      newPassword: p.newPassword,
      description: p.description ?? null,
    });
  }

  /**
   * requestEmailSignIn mails a sign-in link (`type=signin&token=…`) and a
   * 6-digit code; while sign-up is on, an address without an account gets
   * one too (the account is made at the first sign-in). Always true.
   */
  requestEmailSignIn(p: { email: string; redirectTo?: string; description?: string; locale?: string }): Promise<boolean> {
    return this.publicValue(
      'requestEmailSignIn',
      'mutation($email: String!, $redirectTo: String, $description: String, $locale: String) { requestEmailSignIn(email: $email, redirectTo: $redirectTo, description: $description, locale: $locale) }',
      { email: p.email, redirectTo: p.redirectTo ?? null, description: p.description ?? null, locale: p.locale ?? null },
    );
  }

  /** signInWithEmailToken signs in with the token of a sign-in link. Rejects with INVALID_EMAIL_TOKEN, USER_DISABLED, FORBIDDEN, MFA_REQUIRED. */
  signInWithEmailToken(p: { token: string; description?: string }): Promise<AuthSession> {
    return this.signedIn('signInWithEmailToken', `mutation($token: String!, $description: String) { signInWithEmailToken(token: $token, description: $description) { ${PAYLOAD} } }`, {
      token: p.token,
      description: p.description ?? null,
    });
  }

  /** signInWithEmailCode signs in with the 6-digit code of a sign-in mail (5 tries, right or wrong, per mail). Rejects like signInWithEmailToken. */
  signInWithEmailCode(p: { email: string; code: string; description?: string }): Promise<AuthSession> {
    return this.signedIn(
      'signInWithEmailCode',
      `mutation($email: String!, $code: String!, $description: String) { signInWithEmailCode(email: $email, code: $code, description: $description) { ${PAYLOAD} } }`,
      { email: p.email, code: p.code, description: p.description ?? null },
    );
  }

  // ---- passkeys (issue 16) ---------------------------------------------------

  /**
   * beginPasskeySignIn asks authgate for a sign-in challenge and resolves to
   * the options for `navigator.credentials.get({ publicKey })`, binary
   * fields already ArrayBuffers. With an email, only that account's passkeys
   * are offered (which tells the caller whether it has any).
   */
  async beginPasskeySignIn(p: { email?: string } = {}): Promise<PublicKeyCredentialRequestOptions> {
    const o = await this.publicValue<Record<string, unknown>>('beginPasskeySignIn', 'mutation($email: String) { beginPasskeySignIn(email: $email) }', { email: p.email ?? null });
    return requestOptionsFromJSON(o);
  }

  /**
   * finishPasskeySignIn sends what navigator.credentials.get resolved to
   * (converted to JSON here) and signs in (SIGNED_IN; a passkey is two
   * factors). Rejects with INVALID_PASSKEY.
   */
  finishPasskeySignIn(p: { credential: PasskeyCredential; description?: string }): Promise<AuthSession> {
    return this.signedIn('finishPasskeySignIn', `mutation($credential: JSON!, $description: String) { finishPasskeySignIn(credential: $credential, description: $description) { ${PAYLOAD} } }`, {
      credential: credentialToJSON(p.credential),
      description: p.description ?? null,
    });
  }

  /**
   * signInWithPasskey runs the whole passkey sign-in in the browser:
   * beginPasskeySignIn, the browser's dialog, finishPasskeySignIn. mediation
   * 'conditional' offers passkeys in the autofill of an input with
   * `autocomplete="username webauthn"`. Rejects with PASSKEY_CANCELLED,
   * PASSKEY_UNAVAILABLE or INVALID_PASSKEY.
   */
  async signInWithPasskey(p: { email?: string; description?: string; mediation?: CredentialMediationRequirement; signal?: AbortSignal } = {}): Promise<AuthSession> {
    const publicKey = await this.beginPasskeySignIn(p.email === undefined ? {} : { email: p.email });
    const options: CredentialRequestOptions = { publicKey };
    if (p.mediation) options.mediation = p.mediation;
    if (p.signal) options.signal = p.signal;
    const credential = await ceremony('get', options);
    return this.finishPasskeySignIn(p.description === undefined ? { credential } : { credential, description: p.description });
  }

  /**
   * beginPasskeyRegistration resolves to the options for
   * `navigator.credentials.create({ publicKey })` for the signed-in user
   * (binary fields already ArrayBuffers). Rejects with FORBIDDEN when the
   * account has a second factor and this session is not level 2.
   */
  async beginPasskeyRegistration(): Promise<PublicKeyCredentialCreationOptions> {
    return creationOptionsFromJSON(await this.authed<Record<string, unknown>>('beginPasskeyRegistration', 'mutation { beginPasskeyRegistration }'));
  }

  /** finishPasskeyRegistration stores the passkey navigator.credentials.create resolved to, under name. Rejects with INVALID_PASSKEY. */
  finishPasskeyRegistration(p: { credential: PasskeyCredential; name?: string }): Promise<Passkey> {
    return this.authed<Passkey>('finishPasskeyRegistration', `mutation($credential: JSON!, $name: String) { finishPasskeyRegistration(credential: $credential, name: $name) { ${PASSKEY_FIELDS} } }`, {
      credential: credentialToJSON(p.credential),
      name: p.name ?? null,
    });
  }

  /** registerPasskey runs the whole registration in the browser: begin, the browser's dialog, finish. Rejects like the three. */
  async registerPasskey(p: { name?: string; signal?: AbortSignal } = {}): Promise<Passkey> {
    const publicKey = await this.beginPasskeyRegistration();
    const options: CredentialCreationOptions = { publicKey };
    if (p.signal) options.signal = p.signal;
    const credential = await ceremony('create', options);
    return this.finishPasskeyRegistration(p.name === undefined ? { credential } : { credential, name: p.name });
  }

  /** removePasskey deletes one of the user's passkeys (a level-2 session only) and ends the user's other sessions. Rejects with NOT_FOUND or FORBIDDEN. */
  removePasskey(p: { id: string }): Promise<boolean> {
    return this.authed<boolean>('removePasskey', 'mutation($id: ID!) { removePasskey(id: $id) }', { id: p.id });
  }

  // ---- identity providers (issue 15) ----------------------------------------

  /**
   * exchangeAuthCode signs in with the one-time code a provider sign-in
   * brought back to redirectTo as ?code= (once, within 60 s). codeVerifier is
   * the PKCE verifier whose challenge the sign-in was started with (a wrong
   * or missing one spends the code). Rejects with INVALID_AUTH_CODE,
   * USER_DISABLED or MFA_REQUIRED. handleProviderRedirect does this for the
   * page the browser came back to, with the verifier it kept.
   */
  exchangeAuthCode(p: { code: string; codeVerifier?: string; description?: string }): Promise<AuthSession> {
    // The argument is sent only when there is one: an authgate from before
    // PKCE answers the plain exchange as it did.
    if (p.codeVerifier === undefined) {
      return this.signedIn('exchangeAuthCode', `mutation($code: String!, $description: String) { exchangeAuthCode(code: $code, description: $description) { ${PAYLOAD} } }`, {
        code: p.code,
        description: p.description ?? null,
      });
    }
    return this.signedIn(
      'exchangeAuthCode',
      `mutation($code: String!, $codeVerifier: String, $description: String) { exchangeAuthCode(code: $code, codeVerifier: $codeVerifier, description: $description) { ${PAYLOAD} } }`,
      { code: p.code, codeVerifier: p.codeVerifier, description: p.description ?? null },
    );
  }

  /**
   * signInWithIdToken signs in with an ID token a provider's native sign-in
   * gave the app (Google, Apple); nonce, when given, must be the token's (or
   * its SHA-256 in hex). Rejects with UNKNOWN_PROVIDER, INVALID_CREDENTIALS
   * (a token that does not verify), PROVIDER_ERROR, ACCOUNT_EXISTS,
   * FORBIDDEN, USER_DISABLED or MFA_REQUIRED.
   */
  signInWithIdToken(p: { provider: string; idToken: string; nonce?: string; description?: string }): Promise<AuthSession> {
    return this.signedIn(
      'signInWithIdToken',
      `mutation($provider: String!, $idToken: String!, $nonce: String, $description: String) { signInWithIdToken(provider: $provider, idToken: $idToken, nonce: $nonce, description: $description) { ${PAYLOAD} } }`,
      { provider: p.provider, idToken: p.idToken, nonce: p.nonce ?? null, description: p.description ?? null },
    );
  }

  /** flowKey is where this client keeps a provider flow's PKCE verifier. */
  private get flowKey(): string {
    return `${this.key}:pkce`;
  }

  /**
   * beginFlow makes a new PKCE verifier for a provider flow of this tab,
   * keeps it in flowStorage (replacing the one of a flow started before and
   * never finished) and returns its S256 challenge.
   */
  private async beginFlow(): Promise<string> {
    const verifier = createCodeVerifier();
    const challenge = await codeChallengeS256(verifier);
    await this.flowStorage.setItem(this.flowKey, verifier);
    return challenge;
  }

  /** takeVerifier returns the kept verifier (null: none) and forgets it. */
  private async takeVerifier(): Promise<string | null> {
    const v = await this.flowStorage.getItem(this.flowKey);
    await this.flowStorage.removeItem(this.flowKey);
    return typeof v === 'string' && v !== '' ? v : null;
  }

  /**
   * providerSignInUrl resolves to where to send the browser to sign in with
   * provider: authgate's /auth/{provider}/start?redirectTo=…&codeChallenge=…
   * (see ClientOptions.authOrigin). It makes the flow's PKCE verifier and
   * keeps it (flowStorage) for handleProviderRedirect: use the URL in this
   * tab. redirectTo must be allowed by AUTHGATE_REDIRECT_URLS; the browser
   * comes back there with ?code= or ?error=.
   */
  async providerSignInUrl(p: { provider: string; redirectTo: string }): Promise<string> {
    if (!this.authOrigin) {
      throw new TypeError('@authgate/client: provider sign-in needs createClient({ authOrigin }): where browsers reach authgate (url is not authgate\'s /graphql)');
    }
    const where = { authOrigin: this.authOrigin, provider: p?.provider, redirectTo: p?.redirectTo };
    providerSignInUrl(where); // its TypeErrors, before a verifier is kept
    return providerSignInUrl({ ...where, codeChallenge: await this.beginFlow() });
  }

  /** signInWithProvider sends the browser to provider's sign-in (providerSignInUrl, with a PKCE challenge); redirectTo defaults to this page. Call handleProviderRedirect on the page it names. */
  signInWithProvider(p: { provider: string; redirectTo?: string }): Promise<void> {
    return sendBrowser(p.redirectTo, (redirectTo) => this.providerSignInUrl({ provider: p.provider, redirectTo }));
  }

  /**
   * handleProviderRedirect finishes a provider sign-in (or an identity link)
   * on the page it came back to: it reads ?code= or ?error= from url (this
   * page's by default), removes them from the address bar at once (so a
   * reload or a second call does not try the used code again), and exchanges
   * the code with the PKCE verifier providerSignInUrl/signInWithProvider or
   * linkIdentity kept, which it then forgets (SIGNED_IN). A code arriving
   * while no verifier is kept (a flow this tab did not start: someone else's
   * code, sent to trick this page into their account) is not exchanged:
   * INVALID_AUTH_CODE. It resolves to the session, or to null when the URL
   * carries neither; it rejects with an AuthgateError of the ?error code
   * (ACCOUNT_EXISTS, PROVIDER_ERROR, …: message from error_description), or
   * as exchangeAuthCode does.
   */
  handleProviderRedirect(p: { url?: string; description?: string } = {}): Promise<AuthSession | null> {
    const loc = (globalThis as { location?: Location }).location;
    const url = p.url ?? loc?.href;
    if (!url) return Promise.reject(new TypeError('@authgate/client: handleProviderRedirect needs { url } outside a browser'));
    let found: ReturnType<typeof parseProviderRedirect>;
    try {
      found = parseProviderRedirect(url);
    } catch (e) {
      return Promise.reject(e);
    }
    if (!found.code && !found.error) return Promise.resolve(null);
    // Synchronously, before anything is awaited: a second call (a framework
    // running an effect twice) then finds nothing to do.
    const h = (globalThis as { history?: History }).history;
    if (loc && url === loc.href && typeof h?.replaceState === 'function') h.replaceState(h.state, '', found.cleanUrl);
    return this.takeVerifier().then((codeVerifier) => {
      if (found.error) {
        throw new AuthgateError(found.error, found.errorDescription ?? found.error, { code: found.error, source: 'redirect' });
      }
      if (!codeVerifier) {
        throw new AuthgateError(
          'INVALID_AUTH_CODE',
          'this sign-in was not started in this tab (no PKCE verifier is kept for it), so its code is not exchanged; sign in again',
          { code: 'INVALID_AUTH_CODE', source: 'client' },
        );
      }
      return this.exchangeAuthCode(p.description === undefined ? { code: found.code!, codeVerifier } : { code: found.code!, codeVerifier, description: p.description });
    });
  }

  /**
   * startIdentityLink resolves to the URL to send the browser to for linking
   * provider to the signed-in user (it works once, for 10 minutes); the
   * browser comes back to redirectTo as after a sign-in. codeChallenge is a
   * PKCE challenge the app keeps the verifier of (linkIdentity makes and
   * keeps one for handleProviderRedirect; without one, handleProviderRedirect
   * does not exchange the code). Rejects with UNKNOWN_PROVIDER or
   * BAD_USER_INPUT (redirectTo not allowed, a malformed codeChallenge).
   */
  startIdentityLink(p: { provider: string; redirectTo: string; codeChallenge?: string }): Promise<string> {
    if (p.codeChallenge === undefined) {
      return this.authed<string>('startIdentityLink', 'mutation($provider: String!, $redirectTo: String!) { startIdentityLink(provider: $provider, redirectTo: $redirectTo) }', {
        provider: p.provider,
        redirectTo: p.redirectTo,
      });
    }
    return this.authed<string>(
      'startIdentityLink',
      'mutation($provider: String!, $redirectTo: String!, $codeChallenge: String) { startIdentityLink(provider: $provider, redirectTo: $redirectTo, codeChallenge: $codeChallenge) }',
      { provider: p.provider, redirectTo: p.redirectTo, codeChallenge: p.codeChallenge },
    );
  }

  /** linkIdentity sends the browser to link provider to the signed-in user (startIdentityLink, with a PKCE challenge kept as for a sign-in); redirectTo defaults to this page. */
  linkIdentity(p: { provider: string; redirectTo?: string }): Promise<void> {
    return sendBrowser(p.redirectTo, async (redirectTo) => this.startIdentityLink({ provider: p.provider, redirectTo, codeChallenge: await this.beginFlow() }));
  }

  /** unlinkIdentity removes the user's identity of provider. Rejects with NOT_FOUND, or BAD_USER_INPUT when it is the last way to sign in. */
  unlinkIdentity(p: { provider: string }): Promise<boolean> {
    return this.authed<boolean>('unlinkIdentity', 'mutation($provider: String!) { unlinkIdentity(provider: $provider) }', { provider: p.provider });
  }

  /** me resolves to the signed-in user, fresh from the server, with its second factors and linked identities. */
  me(): Promise<UserDetails> {
    return this.authed<UserDetails>('me', `query { me { ${ME_FIELDS} } }`);
  }

  /** close stops timers and cross-tab listening (tests, or a client that is thrown away). */
  close() {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.coordinator.close();
    const w = globalThis as { removeEventListener?: typeof removeEventListener };
    w.removeEventListener?.('storage', this.onStorage as EventListener);
    this.listeners.clear();
  }
}

/**
 * sendBrowser sends this page to the URL urlFor resolves to for redirectTo
 * (default: this page, less a ?code= or ?error= it came back with); the
 * browser start of signInWithProvider and linkIdentity.
 */
async function sendBrowser(redirectTo: string | undefined, urlFor: (redirectTo: string) => Promise<string>): Promise<void> {
  const loc = (globalThis as { location?: Location }).location;
  if (!loc || typeof loc.assign !== 'function') throw new TypeError('@authgate/client: this needs a browser page (location); use providerSignInUrl elsewhere');
  loc.assign(await urlFor(redirectTo ?? parseProviderRedirect(loc.href).cleanUrl));
}

/** createClient makes an AuthgateClient; see ClientOptions. */
export function createClient(options: ClientOptions): AuthgateClient {
  return new AuthgateClient(options);
}

export { PAYLOAD as authPayloadFields };
