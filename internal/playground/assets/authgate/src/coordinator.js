/**
 * Coordinator serialises the work that reads and replaces the session:
 * within this page by a promise chain, and across the tabs of a browser
 * profile by the Web Locks API. Where Web Locks are missing, a
 * BroadcastChannel carries "busy"/"free" notices so that a tab waits for
 * another's refresh instead of starting its own; two tabs that start in the
 * same instant may then both refresh, and authgate's grace replay gives the
 * second the same successor (docs/client.md).
 */
/**
 * The tails of the in-page queues, by lock name: clients of one page (or
 * Node process) that share a storage key share one queue, like the Web Lock
 * they share across tabs.
 */
const tails = new Map();
export class Coordinator {
    name;
    channel;
    peerBusyUntil = 0;
    peerFree = [];
    listeners = new Set();
    constructor(name, crossTab) {
        this.name = name;
        const BC = globalThis.BroadcastChannel;
        this.channel = crossTab && BC ? new BC(name) : null;
        if (this.channel) {
            // Node keeps a process alive while a channel is open; a client must not.
            this.channel.unref?.();
            this.channel.onmessage = (ev) => this.receive(ev.data);
        }
    }
    get locks() {
        return globalThis.navigator?.locks;
    }
    /** exclusive runs fn when no other holder (this page or another tab) runs one, and returns its result. */
    exclusive(fn) {
        const run = (tails.get(this.name) ?? Promise.resolve()).then(() => this.crossTab(fn));
        const tail = run.then(() => undefined, () => undefined);
        tails.set(this.name, tail);
        void tail.then(() => {
            if (tails.get(this.name) === tail)
                tails.delete(this.name);
        });
        return run;
    }
    async crossTab(fn) {
        const locks = this.channel ? this.locks : undefined;
        if (locks)
            return locks.request(this.name, { mode: 'exclusive' }, fn);
        if (!this.channel)
            return fn();
        const deadline = Date.now() + 15000;
        while (this.peerBusyUntil > Date.now() && Date.now() < deadline) {
            await new Promise((resolve) => {
                this.peerFree.push(resolve);
                setTimeout(resolve, Math.max(0, Math.min(this.peerBusyUntil, deadline) - Date.now()));
            });
        }
        this.channel.postMessage({ type: 'busy', until: Date.now() + 15000 });
        try {
            return await fn();
        }
        finally {
            this.channel.postMessage({ type: 'free' });
        }
    }
    /** post tells the other tabs msg (nothing happens where there is no channel). */
    post(msg) {
        this.channel?.postMessage(msg);
    }
    /** onMessage calls cb with every message another tab posts. */
    onMessage(cb) {
        this.listeners.add(cb);
    }
    receive(msg) {
        const m = msg;
        if (m?.type === 'busy') {
            this.peerBusyUntil = Math.min(Number(m.until) || 0, Date.now() + 15000);
            return;
        }
        if (m?.type === 'free') {
            this.peerBusyUntil = 0;
            const waiting = this.peerFree;
            this.peerFree = [];
            waiting.forEach((r) => r());
            return;
        }
        for (const cb of this.listeners)
            cb(msg);
    }
    /** close stops listening; the client is unusable across tabs afterwards. */
    close() {
        this.listeners.clear();
        this.channel?.close();
    }
}
