/** Any object with the three methods of the Web Storage API; they may return promises. */
export interface StorageLike {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/**
 * Where the session is kept: `'memory'` (this page or process only; the
 * default), `'localStorage'` (shared by every tab of the origin, survives a
 * reload), `'cookie'` (authgate runs with AUTHGATE_REFRESH_COOKIE: the
 * refresh token lives in an HttpOnly cookie the client never sees; the access
 * token stays in memory and tabs share it), or your own StorageLike.
 */
export type StorageOption = 'memory' | 'localStorage' | 'cookie' | StorageLike;

/** The session as kept in storage: what authgate answered, plus when the access token expires by this machine's clock. */
export interface StoredSession {
  accessToken: string;
  accessTokenExpiresAt: string;
  refreshToken: string | null;
  refreshTokenExpiresAt: string;
  sessionId: string;
  user: unknown;
  /** When the access token expires, by this machine's clock (ms since the epoch): receipt time plus its lifetime. */
  expiresAtLocal: number;
  /** The token's lifetime in milliseconds: exp − iat less the second iat may have been truncated by. */
  lifetime: number;
}

/** SessionStore is the client's view of a storage mode. */
export interface SessionStore {
  readonly mode: 'memory' | 'localStorage' | 'cookie' | 'custom';
  /** True when other tabs (or processes) see the same session. */
  readonly shared: boolean;
  read(): Promise<StoredSession | null>;
  write(s: StoredSession | null): Promise<void>;
}

function parse(raw: string | null): StoredSession | null {
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as StoredSession;
    return s && typeof s.accessToken === 'string' ? s : null;
  } catch {
    return null;
  }
}

class MemoryStore implements SessionStore {
  readonly shared: boolean;
  private value: StoredSession | null = null;
  constructor(readonly mode: 'memory' | 'cookie') {
    this.shared = mode === 'cookie';
  }
  async read() {
    return this.value;
  }
  async write(s: StoredSession | null) {
    // In cookie mode the refresh token is never kept, even if a server answered one.
    this.value = s && this.mode === 'cookie' ? { ...s, refreshToken: null } : s;
  }
}

class KeyedStore implements SessionStore {
  readonly shared = true;
  constructor(
    readonly mode: 'localStorage' | 'custom',
    private readonly storage: StorageLike,
    private readonly key: string,
  ) {}
  async read() {
    return parse(await this.storage.getItem(this.key));
  }
  async write(s: StoredSession | null) {
    if (s) await this.storage.setItem(this.key, JSON.stringify(s));
    else await this.storage.removeItem(this.key);
  }
}

/** openStore returns the store for a storage option; it throws if localStorage is asked for where there is none. */
export function openStore(option: StorageOption | undefined, key: string): SessionStore {
  if (option === undefined || option === 'memory') return new MemoryStore('memory');
  if (option === 'cookie') return new MemoryStore('cookie');
  if (option === 'localStorage') {
    const ls = (globalThis as { localStorage?: Storage }).localStorage;
    if (!ls) throw new TypeError("@authgate/client: storage 'localStorage' needs a browser (globalThis.localStorage)");
    return new KeyedStore('localStorage', ls, key);
  }
  if (typeof option.getItem === 'function' && typeof option.setItem === 'function' && typeof option.removeItem === 'function') {
    return new KeyedStore('custom', option, key);
  }
  throw new TypeError("@authgate/client: storage must be 'memory', 'localStorage', 'cookie' or an object with getItem, setItem and removeItem");
}

export { parse as parseStoredSession };
