function parse(raw) {
    if (!raw)
        return null;
    try {
        const s = JSON.parse(raw);
        return s && typeof s.accessToken === 'string' ? s : null;
    }
    catch {
        return null;
    }
}
class MemoryStore {
    mode;
    shared;
    value = null;
    constructor(mode) {
        this.mode = mode;
        this.shared = mode === 'cookie';
    }
    async read() {
        return this.value;
    }
    async write(s) {
        // In cookie mode the refresh token is never kept, even if a server answered one.
        this.value = s && this.mode === 'cookie' ? { ...s, refreshToken: null } : s;
    }
}
class KeyedStore {
    mode;
    storage;
    key;
    shared = true;
    constructor(mode, storage, key) {
        this.mode = mode;
        this.storage = storage;
        this.key = key;
    }
    async read() {
        return parse(await this.storage.getItem(this.key));
    }
    async write(s) {
        if (s)
            await this.storage.setItem(this.key, JSON.stringify(s));
        else
            await this.storage.removeItem(this.key);
    }
}
/** openStore returns the store for a storage option; it throws if localStorage is asked for where there is none. */
export function openStore(option, key) {
    if (option === undefined || option === 'memory')
        return new MemoryStore('memory');
    if (option === 'cookie')
        return new MemoryStore('cookie');
    if (option === 'localStorage') {
        const ls = globalThis.localStorage;
        if (!ls)
            throw new TypeError("@authgate/client: storage 'localStorage' needs a browser (globalThis.localStorage)");
        return new KeyedStore('localStorage', ls, key);
    }
    if (typeof option.getItem === 'function' && typeof option.setItem === 'function' && typeof option.removeItem === 'function') {
        return new KeyedStore('custom', option, key);
    }
    throw new TypeError("@authgate/client: storage must be 'memory', 'localStorage', 'cookie' or an object with getItem, setItem and removeItem");
}
export { parse as parseStoredSession };
