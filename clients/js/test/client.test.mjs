// @authgate/client against the real authgate (test/server.mjs): no mocks.
// The server runs with a 3-second access-token lifetime and no reuse grace
// (AUTHGATE_REFRESH_REUSE_GRACE=0s), so any refresh that presented an
// already-rotated refresh token would end the session at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createClient, AuthgateError } from '../dist/index.js';
import { gql, sleep, startServer } from './harness.mjs';

let server;
before(async () => {
  server = await startServer({
    AUTHGATE_ACCESS_TOKEN_TTL: '3s',
    AUTHGATE_REFRESH_REUSE_GRACE: '0s',
    AUTHGATE_AUDIT_REFRESHES: 'true',
    AUTHGATE_LOGIN_FREE_FAILURES: '1',
  });
});
after(async () => {
  await server?.stop();
});

let n = 0;
const email = () => `client-${process.pid}-${++n}@example.com`;
const password = 'correct horse battery';

/** counting wraps fetch and counts the refresh mutations it sends. */
function counting() {
  const c = { refreshes: 0, requests: 0 };
  c.fetch = async (input, init) => {
    c.requests++;
    if (String(init?.body ?? '').includes('refreshToken(refreshToken')) c.refreshes++;
    return fetch(input, init);
  };
  return c;
}

/** audit counts the server's rotations, replays and reuse detections for a session. */
function audit(sessionId) {
  const out = execFileSync('psql', [server.db, '-qtAc', `SELECT
      count(*) FILTER (WHERE event = 'refresh' AND NOT detail ? 'replayed'),
      count(*) FILTER (WHERE event = 'refresh' AND detail ? 'replayed'),
      count(*) FILTER (WHERE event = 'refresh_token_reused')
    FROM auth.audit_events WHERE session_id = '${sessionId}'`]).toString().trim();
  const [rotations, replays, reuses] = out.split('|').map(Number);
  return { rotations, replays, reuses };
}

/** mapStorage is a StorageLike over a Map: two clients given one stand for two tabs of one browser. */
function mapStorage() {
  const m = new Map();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k), map: m };
}

describe('password sign-in and the session', () => {
  test('signUp signs in, reports SIGNED_IN, and the token works for me and sessions()', async () => {
    const client = createClient({ url: server.url });
    const events = [];
    const off = client.onAuthStateChange((event, session) => events.push([event, session?.user.email ?? null]));
    const who = email();
    const session = await client.signUp({ email: who, password, description: 'node test' });
    assert.equal(session.user.email, who);
    assert.equal('refreshToken' in session, false, 'the refresh token stays inside the client');
    assert.match(session.sessionId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(events, [['SIGNED_IN', who]]);
    const token = await client.getAccessToken();
    assert.equal(token, session.accessToken);
    const me = await client.me();
    assert.equal(me.email, who);
    const sessions = await client.sessions();
    assert.ok(Array.isArray(sessions));
    assert.equal(sessions.length, 1);
    assert.deepEqual(Object.keys(sessions[0]).sort(), ['createdAt', 'current', 'description', 'expiresAt', 'id', 'ip', 'lastActivityAt', 'userAgent']);
    assert.equal(sessions[0].current, true);
    assert.equal(sessions[0].description, 'node test');
    const data = await client.graphql('query Who($x: Boolean!) { me @include(if: $x) { email } }', { x: true });
    assert.deepEqual(data, { me: { email: who } });
    off();
    client.close();
  });

  test('wrong password rejects with AuthgateError INVALID_CREDENTIALS; then RATE_LIMITED with retryAfter', async () => {
    const client = createClient({ url: server.url });
    const who = email();
    await client.signUp({ email: who, password });
    await client.signOut();
    const err = await client.signIn({ email: who, password: 'wrong password!' }).catch((e) => e);
    assert.ok(err instanceof AuthgateError, String(err));
    assert.equal(err.code, 'INVALID_CREDENTIALS');
    let limited;
    for (let i = 0; i < 5 && !limited; i++) {
      const e = await client.signIn({ email: who, password: 'wrong password!' }).catch((e) => e);
      if (e.code === 'RATE_LIMITED') limited = e;
      else assert.equal(e.code, 'INVALID_CREDENTIALS');
    }
    assert.ok(limited, 'no RATE_LIMITED after repeated failures');
    assert.equal(typeof limited.retryAfter, 'number');
    assert.ok(limited.retryAfter >= 1, `retryAfter ${limited.retryAfter}`);
    client.close();
  });

  test('graphql rejects with the error code; methods that need a session say NOT_SIGNED_IN', async () => {
    const client = createClient({ url: server.url });
    const err = await client.graphql('query { me { id } }').catch((e) => e);
    assert.ok(err instanceof AuthgateError);
    assert.equal(err.code, 'UNAUTHENTICATED');
    const parse = await client.graphql('query {').catch((e) => e);
    assert.equal(parse.code, 'GRAPHQL_PARSE_FAILED');
    const none = await client.sessions().catch((e) => e);
    assert.equal(none.code, 'NOT_SIGNED_IN');
    assert.equal(await client.getAccessToken(), null);
    client.close();
  });

  test('signOut ends the session on the server and reports SIGNED_OUT', async () => {
    const storage = mapStorage();
    const client = createClient({ url: server.url, storage });
    const events = [];
    client.onAuthStateChange((e, s) => events.push([e, s]));
    await client.signUp({ email: email(), password });
    const stored = JSON.parse([...storage.map.values()][0]);
    await client.signOut();
    assert.deepEqual(events.map((e) => e[0]), ['SIGNED_IN', 'SIGNED_OUT']);
    assert.equal(events[1][1], null);
    assert.equal(storage.map.size, 0, 'storage emptied');
    const again = await gql(server.url, 'mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }', { t: stored.refreshToken });
    assert.equal(again.errors?.[0]?.extensions?.code, 'INVALID_REFRESH_TOKEN');
    client.close();
  });
});

describe('refresh', () => {
  test('getAccessToken refreshes ahead of expiry (TOKEN_REFRESHED) and rotates once', async () => {
    const c = counting();
    const client = createClient({ url: server.url, fetch: c.fetch, autoRefresh: false, refreshMargin: 1 });
    const events = [];
    client.onAuthStateChange((e) => events.push(e));
    const s = await client.signUp({ email: email(), password });
    assert.equal(await client.getAccessToken(), s.accessToken);
    await sleep(2100); // inside the 1-second margin of the 3-second token
    const [a, b, d] = await Promise.all([client.getAccessToken(), client.getAccessToken(), client.getAccessToken()]);
    assert.notEqual(a, s.accessToken);
    assert.equal(a, b);
    assert.equal(a, d);
    assert.equal(c.refreshes, 1, 'three callers, one refresh');
    assert.deepEqual(events, ['SIGNED_IN', 'TOKEN_REFRESHED']);
    assert.deepEqual(audit(s.sessionId), { rotations: 1, replays: 0, reuses: 0 });
    client.close();
  });

  test('autoRefresh keeps the token fresh on a timer', async () => {
    const client = createClient({ url: server.url, refreshMargin: 1 });
    const s = await client.signUp({ email: email(), password });
    const refreshed = new Promise((resolve) => client.onAuthStateChange((e, session) => e === 'TOKEN_REFRESHED' && resolve(session)));
    const next = await refreshed;
    assert.equal(next.sessionId, s.sessionId);
    assert.notEqual(next.accessToken, s.accessToken);
    client.close();
  });

  test('graphql refreshes once and retries once when the server refuses the token', async () => {
    const c = counting();
    const client = createClient({ url: server.url, fetch: c.fetch, autoRefresh: false });
    const s = await client.signUp({ email: email(), password });
    // Revoke the access token behind the client's back: it still looks fresh to it.
    const revoked = await gql(server.url, 'mutation { revokeAccessToken }', {}, s.accessToken);
    assert.equal(revoked.data.revokeAccessToken, true);
    const before = c.requests;
    const data = await client.graphql('{ me { email } }');
    assert.equal(data.me.email, s.user.email);
    assert.equal(c.requests - before, 3, 'refused, refreshed, retried');
    assert.equal(c.refreshes, 1);
    client.close();
  });

  test('fetch attaches the token and retries once after a refresh', async () => {
    const client = createClient({ url: server.url, autoRefresh: false });
    const s = await client.signUp({ email: email(), password });
    await gql(server.url, 'mutation { revokeAccessToken }', {}, s.accessToken);
    const res = await client.fetch(server.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: '{ me { email } }' }),
    });
    const body = await res.json();
    assert.equal(body.data?.me?.email, s.user.email, JSON.stringify(body));
    client.close();
  });

  test('two clients on one storage (two tabs) refresh once between them, and a stale one never presents a rotated token', async () => {
    const storage = mapStorage();
    const c = counting();
    const a = createClient({ url: server.url, storage, fetch: c.fetch, autoRefresh: false, refreshMargin: 1 });
    const s = await a.signUp({ email: email(), password });
    const b = createClient({ url: server.url, storage, fetch: c.fetch, autoRefresh: false, refreshMargin: 1 });
    assert.equal((await b.getSession()).sessionId, s.sessionId);
    await sleep(2100);
    const [ta, tb] = await Promise.all([a.getAccessToken(), b.getAccessToken()]);
    assert.equal(ta, tb);
    assert.equal(c.refreshes, 1);
    // a refreshes twice more while b holds the old state in memory ("asleep").
    for (let i = 0; i < 2; i++) {
      await sleep(2100);
      await a.getAccessToken();
    }
    assert.equal(c.refreshes, 3);
    await sleep(2100);
    const woke = await b.getAccessToken();
    assert.ok(woke);
    assert.deepEqual(audit(s.sessionId), { rotations: 4, replays: 0, reuses: 0 });
    assert.equal((await a.me()).email, s.user.email);
    a.close();
    b.close();
  });

  test('a session ended elsewhere: the refresh fails, the client reports SIGNED_OUT and rejects', async () => {
    const a = createClient({ url: server.url, autoRefresh: false });
    const b = createClient({ url: server.url, autoRefresh: false });
    const who = email();
    await a.signUp({ email: who, password });
    await b.signIn({ email: who, password });
    const events = [];
    b.onAuthStateChange((e) => events.push(e));
    assert.equal(await a.signOutEverywhere(), 2);
    assert.equal(await a.getAccessToken(), null);
    const err = await b.sessions().catch((e) => e);
    assert.ok(err instanceof AuthgateError);
    assert.ok(['UNAUTHENTICATED', 'INVALID_REFRESH_TOKEN'].includes(err.code), err.code);
    assert.deepEqual(events, ['SIGNED_OUT']);
    assert.equal(await b.getAccessToken(), null);
    a.close();
    b.close();
  });
});

describe('sessions and passwords', () => {
  test('revokeSession ends another session; ending the current one signs out here', async () => {
    const a = createClient({ url: server.url, autoRefresh: false });
    const b = createClient({ url: server.url, autoRefresh: false });
    const who = email();
    await a.signUp({ email: who, password, description: 'laptop' });
    const sb = await b.signIn({ email: who, password, description: 'phone' });
    const list = await a.sessions();
    assert.equal(list.length, 2);
    const phone = list.find((x) => !x.current);
    assert.equal(phone.id, sb.sessionId);
    assert.equal(await a.revokeSession(phone.id), true);
    const notFound = await a.revokeSession({ id: phone.id }).catch((e) => e);
    assert.equal(notFound.code, 'NOT_FOUND');
    const current = (await a.getSession()).sessionId;
    await a.revokeSession(current);
    assert.equal(await a.getSession(), null);
    a.close();
    b.close();
  });

  test('changePassword continues in a fresh session; the old password fails, WEAK_PASSWORD is typed', async () => {
    const client = createClient({ url: server.url, autoRefresh: false });
    const events = [];
    client.onAuthStateChange((e) => events.push(e));
    const who = email();
    const s = await client.signUp({ email: who, password });
    const weak = await client.changePassword({ oldPassword: password, newPassword: 'short' }).catch((e) => e);
    assert.equal(weak.code, 'WEAK_PASSWORD');
    const next = await client.changePassword({ oldPassword: password, newPassword: 'a new long password' });
    assert.notEqual(next.sessionId, s.sessionId);
    assert.equal((await client.me()).email, who);
    assert.deepEqual(events, ['SIGNED_IN', 'SIGNED_IN']);
    const other = createClient({ url: server.url });
    assert.equal((await other.signIn({ email: who, password }).catch((e) => e)).code, 'INVALID_CREDENTIALS');
    client.close();
    other.close();
  });

  test('revokeAccessToken kills the token in use and continues in the same session with a fresh one', async () => {
    const client = createClient({ url: server.url, autoRefresh: false });
    const events = [];
    client.onAuthStateChange((e) => events.push(e));
    const s = await client.signUp({ email: email(), password });
    assert.equal(await client.revokeAccessToken(), true);
    const now = await client.getSession();
    assert.equal(now.sessionId, s.sessionId);
    assert.notEqual(now.accessToken, s.accessToken);
    assert.deepEqual(events, ['SIGNED_IN', 'TOKEN_REFRESHED']);
    const old = await gql(server.url, 'query { me { id } }', {}, s.accessToken);
    assert.equal(old.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    assert.equal((await client.me()).id, s.user.id);
    client.close();
  });
});
