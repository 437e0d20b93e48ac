// Provider sign-in through @authgate/client: the URL helpers as pure
// functions; what the real authgate answers without a provider to talk to (a
// bogus code, an unknown provider, a configured provider whose issuer is
// down); and the client's side of the redirect flow through a real OpenID
// provider (cmd/testop: zitadel/oidc's), the browser played by a cookie jar
// that follows redirects (harness.mjs Browser): sign-in, linking, unlinking.
// The same dance in headless Chromium is interop/providers.mjs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createClient, codeChallengeS256, createCodeVerifier, parseProviderRedirect, providerSignInUrl } from '../dist/index.js';
import { Browser, freePort, refused, startServer, startTestOP } from './harness.mjs';

// S256 by node's crypto, to check the client's (Web Crypto) against.
const s256 = (v) => createHash('sha256').update(v).digest('base64url');

/** A flowStorage the test can look into. */
function mapStorage() {
  const m = new Map();
  return { m, getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
}

/** A fetch that records the GraphQL operations the client sends (name → variables). */
function recordingFetch() {
  const sent = [];
  const f = async (input, init) => {
    if (init?.body) {
      const { query, variables } = JSON.parse(init.body);
      sent.push({ query, variables });
    }
    return fetch(input, init);
  };
  return { sent, fetch: f };
}


describe('URL helpers', () => {
  test('providerSignInUrl: /auth/{provider}/start with redirectTo encoded; a trailing slash or path prefix of authOrigin kept right', () => {
    assert.equal(
      providerSignInUrl({ authOrigin: 'https://auth.example.com', provider: 'google', redirectTo: 'https://app.example.com/cb?x=1&y=2' }),
      'https://auth.example.com/auth/google/start?redirectTo=https%3A%2F%2Fapp.example.com%2Fcb%3Fx%3D1%26y%3D2',
    );
    assert.equal(
      providerSignInUrl({ authOrigin: 'https://example.com/authgate/', provider: 'corp', redirectTo: 'https://app.example.com/' }),
      'https://example.com/authgate/auth/corp/start?redirectTo=https%3A%2F%2Fapp.example.com%2F',
    );
    assert.match(providerSignInUrl({ authOrigin: 'https://a.example', provider: 'x/../y', redirectTo: 'https://b.example' }), /\/auth\/x%2F\.\.%2Fy\/start\?/);
    assert.throws(() => providerSignInUrl({ authOrigin: '', provider: 'google', redirectTo: 'https://b.example' }), TypeError);
    assert.equal(
      providerSignInUrl({ authOrigin: 'https://a.example', provider: 'corp', redirectTo: 'https://b.example/', codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM' }),
      'https://a.example/auth/corp/start?redirectTo=https%3A%2F%2Fb.example%2F&codeChallenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  test('PKCE: createCodeVerifier is 32 random bytes in base64url; codeChallengeS256 is RFC 7636\'s S256', async () => {
    const a = createCodeVerifier();
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(a, 'base64url').length, 32);
    assert.notEqual(createCodeVerifier(), a);
    assert.equal(await codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    assert.equal(await codeChallengeS256(a), s256(a));
  });

  test('the client finds authgate from its /graphql url (behind Hasura it needs authOrigin); its URL carries the challenge of the verifier it keeps', async () => {
    const flows = mapStorage();
    const direct = createClient({ url: 'https://auth.example.com/graphql', flowStorage: flows });
    const url = new URL(await direct.providerSignInUrl({ provider: 'github', redirectTo: 'https://app.example.com/' }));
    assert.equal(url.origin + url.pathname, 'https://auth.example.com/auth/github/start');
    assert.equal(url.searchParams.get('redirectTo'), 'https://app.example.com/');
    const verifier = flows.m.get('authgate:https://auth.example.com/graphql:pkce');
    assert.match(verifier, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(url.searchParams.get('codeChallenge'), s256(verifier));
    // A second start replaces the verifier of the first.
    const second = new URL(await direct.providerSignInUrl({ provider: 'github', redirectTo: 'https://app.example.com/' }));
    assert.notEqual(flows.m.get('authgate:https://auth.example.com/graphql:pkce'), verifier);
    assert.equal(second.searchParams.get('codeChallenge'), s256(flows.m.get('authgate:https://auth.example.com/graphql:pkce')));
    const hasura = createClient({ url: 'https://hasura.example.com/v1/graphql' });
    await assert.rejects(hasura.providerSignInUrl({ provider: 'github', redirectTo: 'https://app.example.com/' }), /authOrigin/);
    await assert.rejects(direct.providerSignInUrl({ provider: '', redirectTo: 'https://app.example.com/' }), TypeError);
    const told = createClient({ url: 'https://hasura.example.com/v1/graphql', authOrigin: 'https://auth.example.com' });
    assert.match(await told.providerSignInUrl({ provider: 'github', redirectTo: 'https://app.example.com/' }), /^https:\/\/auth\.example\.com\/auth\/github\/start\?/);
    for (const c of [direct, hasura, told]) c.close();
  });

  test('parseProviderRedirect reads code or error and gives the URL without them, other parameters and the hash kept', () => {
    assert.deepEqual(parseProviderRedirect('https://app.example.com/cb?code=abc&tab=2#top'), {
      code: 'abc', error: null, errorDescription: null, cleanUrl: 'https://app.example.com/cb?tab=2#top',
    });
    assert.deepEqual(parseProviderRedirect('https://app.example.com/cb?error=ACCOUNT_EXISTS&error_description=an+account+has+this+address'), {
      code: null, error: 'ACCOUNT_EXISTS', errorDescription: 'an account has this address', cleanUrl: 'https://app.example.com/cb',
    });
    assert.deepEqual(parseProviderRedirect('https://app.example.com/cb?tab=2'), {
      code: null, error: null, errorDescription: null, cleanUrl: 'https://app.example.com/cb?tab=2',
    });
  });
});

describe('against authgate', () => {
  let server;
  let app;
  before(async () => {
    const deadIssuer = `http://localhost:${await freePort()}`; // nobody listens: discovery fails
    server = await startServer((port) => {
      app = `http://localhost:${port}/app`;
      return {
        AUTHGATE_PUBLIC_URL: `http://localhost:${port}`,
        AUTHGATE_REDIRECT_URLS: app,
        AUTHGATE_PROVIDERS: JSON.stringify([{ id: 'corp', type: 'oidc', issuer: deadIssuer, client_id: 'app', client_secret: 'secret' }]),
      };
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('exchangeAuthCode with a code nobody issued is INVALID_AUTH_CODE and signs nobody in', async () => {
    const client = createClient({ url: server.url, autoRefresh: false });
    const events = [];
    client.onAuthStateChange((e) => events.push(e));
    assert.equal((await refused(client.exchangeAuthCode({ code: 'bogus', description: 'web' }))).code, 'INVALID_AUTH_CODE');
    assert.equal(await client.getSession(), null);
    assert.deepEqual(events, []);
    client.close();
  });

  test('handleProviderRedirect: nothing to do → null; ?error= → that code; ?code= is exchanged and removed from the address bar first', async () => {
    const rec = recordingFetch();
    const client = createClient({ url: server.url, autoRefresh: false, fetch: rec.fetch });
    assert.equal(await client.handleProviderRedirect({ url: `${app}?tab=1` }), null);
    const err = await refused(client.handleProviderRedirect({ url: `${app}?error=ACCOUNT_EXISTS&error_description=sign+in+with+your+password+and+link` }));
    assert.equal(err.code, 'ACCOUNT_EXISTS');
    assert.equal(err.message, 'sign in with your password and link');

    // A page: location and history as a browser has them.
    const replaced = [];
    globalThis.location = { href: `${app}?code=bogus&tab=1#x`, assign() {} };
    globalThis.history = { state: null, replaceState: (_s, _t, u) => replaced.push(u) };
    try {
      // No flow started here: no verifier, so the code is not even sent.
      const first = client.handleProviderRedirect();
      assert.deepEqual(replaced, [`${app}?tab=1#x`], 'removed before anything else');
      const err = await refused(first);
      assert.equal(err.code, 'INVALID_AUTH_CODE');
      assert.equal(err.extensions.source, 'client');
      assert.deepEqual(rec.sent, [], 'nothing was sent');
      // A flow started here: the code goes with its verifier (authgate knows no such code).
      await client.providerSignInUrl({ provider: 'corp', redirectTo: app });
      globalThis.location.href = `${app}?code=bogus`;
      const second = client.handleProviderRedirect();
      assert.deepEqual(replaced, [`${app}?tab=1#x`, app], 'removed before the exchange is sent');
      assert.equal((await refused(second)).code, 'INVALID_AUTH_CODE');
      assert.equal(rec.sent.length, 1);
      assert.match(rec.sent[0].variables.codeVerifier, /^[A-Za-z0-9_-]{43}$/);
    } finally {
      delete globalThis.location;
      delete globalThis.history;
    }
    client.close();
  });

  test('signInWithIdToken: an unknown provider is UNKNOWN_PROVIDER; one whose issuer is down is PROVIDER_ERROR', async () => {
    const client = createClient({ url: server.url, autoRefresh: false });
    assert.equal((await refused(client.signInWithIdToken({ provider: 'nope', idToken: 'x.y.z' }))).code, 'UNKNOWN_PROVIDER');
    assert.equal((await refused(client.signInWithIdToken({ provider: 'corp', idToken: 'x.y.z', nonce: 'n', description: 'app' }))).code, 'PROVIDER_ERROR');
    assert.equal(await client.getSession(), null);
    client.close();
  });

  test('startIdentityLink answers authgate\'s start URL for the signed-in user (the provider down: back with ?error=PROVIDER_ERROR); unlinkIdentity of nothing linked is NOT_FOUND; me lists no identities', async () => {
    const client = createClient({ url: server.url, autoRefresh: false });
    assert.equal((await refused(client.startIdentityLink({ provider: 'corp', redirectTo: app }))).code, 'NOT_SIGNED_IN');
    await client.signUp({ email: 'linker@example.com', password: 'correct horse battery' });
    const link = new URL(await client.startIdentityLink({ provider: 'corp', redirectTo: app }));
    assert.equal(link.origin + link.pathname, `${server.base.replace('127.0.0.1', 'localhost')}/auth/corp/start`);
    assert.equal(link.searchParams.get('redirectTo'), app);
    assert.ok(link.searchParams.get('link'));
    // The browser goes there; authgate checks the link and would send it on to the provider, which is
    // down here: back to redirectTo with ?error=PROVIDER_ERROR, which handleProviderRedirect reports.
    const start = await fetch(link, { redirect: 'manual' });
    assert.equal(start.status, 302);
    const back = start.headers.get('Location');
    assert.ok(back.startsWith(`${app}?`), back);
    const err = await refused(client.handleProviderRedirect({ url: back }));
    assert.equal(err.code, 'PROVIDER_ERROR');
    assert.ok(err.message.length > 0);

    assert.equal((await refused(client.startIdentityLink({ provider: 'nope', redirectTo: app }))).code, 'UNKNOWN_PROVIDER');
    assert.equal((await refused(client.startIdentityLink({ provider: 'corp', redirectTo: 'https://evil.example/app' }))).code, 'BAD_USER_INPUT');
    assert.equal((await refused(client.unlinkIdentity({ provider: 'corp' }))).code, 'NOT_FOUND');
    assert.deepEqual((await client.me()).identities, []);
    client.close();
  });
});

describe('through a real OpenID provider', () => {
  let server;
  let op;
  let app;
  before(async () => {
    server = await startServer(async (port) => {
      const base = `http://127.0.0.1:${port}`;
      op = await startTestOP(`${base}/auth/corp/callback`);
      app = `http://127.0.0.1:${port}/app/signed-in`; // nothing serves it: the flow stops before it
      return {
        AUTHGATE_PUBLIC_URL: base,
        AUTHGATE_REDIRECT_URLS: app,
        AUTHGATE_PROVIDERS: JSON.stringify([{ id: 'corp', type: 'oidc', issuer: op.issuer, client_id: 'authgate', client_secret: 'authgate-test-secret' }]),
      };
    });
  });
  after(async () => {
    await server?.stop();
    await op?.stop();
  });

  test('providerSignInUrl → the provider\'s login → back with ?code= → handleProviderRedirect signs in (SIGNED_IN), once', async () => {
    const client = createClient({ url: server.url, autoRefresh: false });
    const events = [];
    client.onAuthStateChange((e) => events.push(e));
    const back = await new Browser().signInAtOP(await client.providerSignInUrl({ provider: 'corp', redirectTo: app }), 'alice', app);
    assert.ok(new URL(back).searchParams.get('code'), back);
    const session = await client.handleProviderRedirect({ url: back, description: 'corp sign-in' });
    assert.equal(session.user.email, 'alice@example.com');
    assert.deepEqual(events, ['SIGNED_IN']);
    const me = await client.me();
    assert.deepEqual(me.identities.map((i) => [i.provider, i.subject, i.email]), [['corp', 'sub-alice', 'alice@example.com']]);
    assert.equal((await client.sessions()).find((s) => s.current)?.description, 'corp sign-in');
    // The same page loaded again (the code still in a copied URL): its verifier is gone, and so is the code.
    assert.equal((await refused(client.handleProviderRedirect({ url: back }))).code, 'INVALID_AUTH_CODE');
    assert.equal((await refused(client.exchangeAuthCode({ code: new URL(back).searchParams.get('code') }))).code, 'INVALID_AUTH_CODE');
    // A user the provider made has no password: its only identity is not removed.
    assert.equal((await refused(client.unlinkIdentity({ provider: 'corp' }))).code, 'BAD_USER_INPUT');
    client.close();
  });

  test('an unverified provider email meeting an account comes back as ?error=ACCOUNT_EXISTS: handleProviderRedirect rejects with it, nobody signed in', async () => {
    const victim = createClient({ url: server.url, autoRefresh: false });
    await victim.signUp({ email: 'victim@example.com', password: 'correct horse battery' });
    victim.close();
    const flows = mapStorage();
    const client = createClient({ url: server.url, autoRefresh: false, flowStorage: flows });
    const back = await new Browser().signInAtOP(await client.providerSignInUrl({ provider: 'corp', redirectTo: app }), 'mallory', app);
    assert.equal(flows.m.size, 1);
    const err = await refused(client.handleProviderRedirect({ url: back }));
    assert.equal(err.code, 'ACCOUNT_EXISTS');
    assert.ok(err.message.length > 0 && err.message !== 'ACCOUNT_EXISTS', err.message);
    assert.equal(await client.getSession(), null);
    assert.equal(flows.m.size, 0, 'the failed flow\'s verifier is forgotten too');
    client.close();
  });

  test('linkIdentity (startIdentityLink with a challenge) → the provider → handleProviderRedirect: the identity is the signed-in user\'s; unlinkIdentity removes it', async () => {
    const client = createClient({ url: server.url, autoRefresh: false });
    const mine = await client.signUp({ email: 'owner@example.com', password: 'correct horse battery' });
    // linkIdentity sends the browser away: a page's location catches where to.
    let start;
    globalThis.location = { href: app, assign: (u) => (start = u) };
    try {
      await client.linkIdentity({ provider: 'corp', redirectTo: app });
    } finally {
      delete globalThis.location;
    }
    assert.ok(new URL(start).searchParams.get('codeChallenge'), start);
    const back = await new Browser().signInAtOP(start, 'bob', app);
    const session = await client.handleProviderRedirect({ url: back });
    assert.equal(session.user.id, mine.user.id);
    assert.deepEqual((await client.me()).identities.map((i) => [i.provider, i.subject]), [['corp', 'sub-bob']]);
    assert.equal(await client.unlinkIdentity({ provider: 'corp' }), true);
    assert.deepEqual((await client.me()).identities, []);
    client.close();
  });

  test('PKCE: the client sends the challenge at the start and the verifier with the code, then forgets it', async () => {
    const flows = mapStorage();
    const rec = recordingFetch();
    const client = createClient({ url: server.url, autoRefresh: false, flowStorage: flows, fetch: rec.fetch });
    const start = await client.providerSignInUrl({ provider: 'corp', redirectTo: app });
    const [verifier] = [...flows.m.values()];
    assert.equal(new URL(start).searchParams.get('codeChallenge'), s256(verifier));
    const back = await new Browser().signInAtOP(start, 'alice', app);
    const session = await client.handleProviderRedirect({ url: back });
    assert.ok(session.accessToken);
    const exchange = rec.sent.find((r) => r.query.includes('exchangeAuthCode'));
    assert.equal(exchange.variables.codeVerifier, verifier);
    assert.equal(exchange.variables.code, new URL(back).searchParams.get('code'));
    assert.equal(flows.m.size, 0, 'the verifier is forgotten');
    client.close();
  });

  test('login CSRF: the attacker\'s code on the victim\'s page signs nobody in — not sent without a verifier, refused with the victim\'s', async () => {
    // The attacker runs a flow of their own and stops at the redirect back.
    const attacker = createClient({ url: server.url, autoRefresh: false });
    const attackersCode = async () => new URL(await new Browser().signInAtOP(await attacker.providerSignInUrl({ provider: 'corp', redirectTo: app }), 'bob', app)).searchParams.get('code');

    // A victim that started no flow: the code is not exchanged at all.
    const rec = recordingFetch();
    const victim = createClient({ url: server.url, autoRefresh: false, fetch: rec.fetch });
    const events = [];
    victim.onAuthStateChange((e) => events.push(e));
    assert.equal((await refused(victim.handleProviderRedirect({ url: `${app}?code=${await attackersCode()}` }))).code, 'INVALID_AUTH_CODE');
    assert.equal(rec.sent.length, 0);

    // A victim with a flow of its own under way: its verifier does not fit the attacker's code.
    await victim.providerSignInUrl({ provider: 'corp', redirectTo: app });
    const code = await attackersCode();
    assert.equal((await refused(victim.handleProviderRedirect({ url: `${app}?code=${code}` }))).code, 'INVALID_AUTH_CODE');
    const exchanges = rec.sent.filter((r) => r.query.includes('exchangeAuthCode'));
    assert.equal(exchanges.length, 1);
    // authgate refused it: the code went with the victim's verifier, which is not the attacker's.
    assert.equal(exchanges[0].variables.code, code);
    assert.match(exchanges[0].variables.codeVerifier, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(await victim.getSession(), null);
    assert.deepEqual(events, []);
    victim.close();
    attacker.close();
  });
});
