// The email flows through @authgate/client against the real authgate in
// development mode: the outbox worker delivers every mail to the memory
// mailbox, and the test reads the link or code from GET /dev/mail, as a
// person would from their inbox.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '../dist/index.js';
import { mail, refused, startServer, tokenOf } from './harness.mjs';

const app = 'http://localhost:3000/auth';
let server;
before(async () => {
  server = await startServer(
    {
      AUTHGATE_APP_URL: app,
      AUTHGATE_REDIRECT_URLS: `${app},http://localhost:3000/reset`,
      AUTHGATE_EMAIL_VERIFICATION: 'off',
      AUTHGATE_EMAIL_IP_LIMIT: '0',
    },
    { dev: true },
  );
});
after(async () => {
  await server?.stop();
});

let n = 0;
const email = () => `mail-${process.pid}-${++n}@example.com`;
const password = 'correct horse battery';

test('sendVerificationEmail mails a link; verifyEmail verifies the address once', async () => {
  const address = email();
  const client = createClient({ url: server.url, autoRefresh: false });
  const session = await client.signUp({ email: address, password });
  assert.equal(session.user.emailVerified, false);
  assert.equal(await client.sendVerificationEmail({ email: address, locale: 'de' }), true);
  const m = await mail(server.base, address, 'verify');
  const { token, type } = tokenOf(m.link);
  assert.equal(type, 'verify');
  assert.ok(m.link.startsWith(app + '?'), m.link);

  const other = createClient({ url: server.url, autoRefresh: false }); // the link opened elsewhere, signed out
  assert.equal(await other.verifyEmail({ token }), true);
  assert.equal((await client.me()).emailVerified, true);
  assert.equal((await refused(other.verifyEmail({ token }))).code, 'INVALID_EMAIL_TOKEN');
  // Nothing tells whether an address has an account.
  assert.equal(await other.sendVerificationEmail({ email: email() }), true);
  client.close();
  other.close();
});

test('requestPasswordReset and resetPassword: the new password signs in, every old session ends, the link works once', async () => {
  const address = email();
  const old = createClient({ url: server.url, autoRefresh: false });
  await old.signUp({ email: address, password });
  const client = createClient({ url: server.url, autoRefresh: false });
  assert.equal(await client.requestPasswordReset({ email: address, redirectTo: 'http://localhost:3000/reset' }), true);
  const { token, type } = tokenOf((await mail(server.base, address, 'reset')).link);
  assert.equal(type, 'reset');

  // A weak password is refused before anything: the token stays usable.
  assert.equal((await refused(client.resetPassword({ token, newPassword: 'short' }))).code, 'WEAK_PASSWORD');
  const events = [];
  client.onAuthStateChange((e, s) => events.push([e, s?.user.email]));
  const session = await client.resetPassword({ token, newPassword: 'battery staple horse', description: 'reset test' });
  assert.equal(session.user.email, address);
  assert.equal(session.user.emailVerified, true);
  assert.deepEqual(events, [['SIGNED_IN', address]]);
  assert.equal((await client.me()).email, address);

  assert.equal((await refused(client.resetPassword({ token, newPassword: 'another good password' }))).code, 'INVALID_EMAIL_TOKEN');
  assert.equal((await refused(old.refreshSession())).code, 'INVALID_REFRESH_TOKEN');
  assert.equal(await old.getSession(), null);
  const third = createClient({ url: server.url, autoRefresh: false });
  assert.equal((await refused(third.signIn({ email: address, password }))).code, 'INVALID_CREDENTIALS');
  await third.signIn({ email: address, password: 'battery staple horse' });
  for (const c of [old, client, third]) c.close();
});

test('requestEmailSignIn, then signInWithEmailToken: a new address gets a verified account at its first sign-in', async () => {
  const address = email();
  const client = createClient({ url: server.url, autoRefresh: false });
  assert.equal(await client.requestEmailSignIn({ email: address, description: 'link test', locale: 'fr' }), true);
  const m = await mail(server.base, address, 'signin');
  const { token, type } = tokenOf(m.link);
  assert.equal(type, 'signin');
  const events = [];
  client.onAuthStateChange((e) => events.push(e));
  const session = await client.signInWithEmailToken({ token, description: 'link test' });
  assert.equal(session.user.email, address);
  assert.equal(session.user.emailVerified, true);
  assert.deepEqual(events, ['SIGNED_IN']);
  assert.equal((await client.sessions()).find((s) => s.current)?.description, 'link test');
  // The link, and the code of the same mail, are used up.
  assert.equal((await refused(client.signInWithEmailToken({ token }))).code, 'INVALID_EMAIL_TOKEN');
  assert.equal((await refused(client.signInWithEmailCode({ email: address, code: m.code }))).code, 'INVALID_EMAIL_TOKEN');
  client.close();
});

test('signInWithEmailCode: a wrong code is refused and counts; the right one signs in', async () => {
  const address = email();
  const client = createClient({ url: server.url, autoRefresh: false });
  await client.requestEmailSignIn({ email: address });
  const { code } = await mail(server.base, address, 'signin');
  assert.match(code, /^\d{6}$/);
  const wrong = code === '000000' ? '111111' : '000000';
  assert.equal((await refused(client.signInWithEmailCode({ email: address, code: wrong }))).code, 'INVALID_EMAIL_TOKEN');
  assert.equal(await client.getSession(), null);
  const session = await client.signInWithEmailCode({ email: address, code, description: 'code test' });
  assert.equal(session.user.email, address);
  assert.equal((await client.getSession())?.sessionId, session.sessionId);
  client.close();

  // The wrong tries count: after five, the mail's right code is refused too.
  const spent = email();
  const other = createClient({ url: server.url, autoRefresh: false });
  await other.requestEmailSignIn({ email: spent });
  const right = (await mail(server.base, spent, 'signin')).code;
  const bad = right === '000000' ? '111111' : '000000';
  for (let i = 0; i < 5; i++) assert.equal((await refused(other.signInWithEmailCode({ email: spent, code: bad }))).code, 'INVALID_EMAIL_TOKEN');
  assert.equal((await refused(other.signInWithEmailCode({ email: spent, code: right }))).code, 'INVALID_EMAIL_TOKEN');
  assert.equal(await other.getSession(), null);
  other.close();
});

test('a redirectTo outside AUTHGATE_REDIRECT_URLS is BAD_USER_INPUT, for every request mutation', async () => {
  const client = createClient({ url: server.url, autoRefresh: false });
  for (const call of [
    () => client.sendVerificationEmail({ email: email(), redirectTo: 'http://localhost:3000.evil.net/auth' }),
    () => client.requestPasswordReset({ email: email(), redirectTo: 'http://evil.example/reset' }),
    () => client.requestEmailSignIn({ email: email(), redirectTo: 'http://localhost:3000@evil.example/auth' }),
  ]) {
    assert.equal((await refused(call())).code, 'BAD_USER_INPUT');
  }
  client.close();
});
