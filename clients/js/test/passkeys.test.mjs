// Passkeys through @authgate/client against the real authgate, with a
// software authenticator (authenticator.mjs) as navigator.credentials: the
// client converts authgate's JSON options to ArrayBuffers for the browser and
// the browser's credential back to JSON, and the server verifies real
// signatures. Also the conversions alone, and the browser's refusals.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  base64urlToBuffer,
  bufferToBase64url,
  createClient,
  credentialToJSON,
  requestOptionsFromJSON,
} from '../dist/index.js';
import { Authenticator } from './authenticator.mjs';
import { refused, startServer } from './harness.mjs';

let server;
let origin;
before(async () => {
  server = await startServer((port) => {
    origin = `http://localhost:${port}`;
    return { AUTHGATE_WEBAUTHN_RP_ID: 'localhost', AUTHGATE_WEBAUTHN_ORIGINS: origin };
  });
});
after(async () => {
  await server?.stop();
});

const password = 'correct horse battery';
const authLevel = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url'))['https://hasura.io/jwt/claims']['x-hasura-auth-level'];

function withCredentials(container) {
  globalThis.navigator = container ? { credentials: container } : undefined;
}

test('base64url converts both ways, with or without padding, for every byte', () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const s = bufferToBase64url(bytes);
  assert.doesNotMatch(s, /[+/=]/);
  assert.deepEqual(new Uint8Array(base64urlToBuffer(s)), bytes);
  assert.deepEqual(new Uint8Array(base64urlToBuffer('-_8=')), Uint8Array.from([0xfb, 0xff]));
  assert.equal(bufferToBase64url(new Uint8Array(0)), '');
  // A view of part of a buffer encodes only that part.
  assert.equal(bufferToBase64url(new Uint8Array(bytes.buffer, 1, 2)), bufferToBase64url(Uint8Array.from([1, 2])));
});

test('the options become ArrayBuffers; a credential that is JSON already passes through', () => {
  const o = requestOptionsFromJSON({ challenge: 'AQID', rpId: 'localhost', allowCredentials: [{ type: 'public-key', id: 'BAU', transports: ['internal'] }], userVerification: 'required' });
  assert.deepEqual(new Uint8Array(o.challenge), Uint8Array.from([1, 2, 3]));
  assert.deepEqual(new Uint8Array(o.allowCredentials[0].id), Uint8Array.from([4, 5]));
  assert.deepEqual(o.allowCredentials[0].transports, ['internal']);
  assert.equal(o.userVerification, 'required');
  assert.equal('allowCredentials' in requestOptionsFromJSON({ challenge: 'AQID' }), false);
  const json = { id: 'x', rawId: 'x', type: 'public-key', response: {} };
  assert.equal(credentialToJSON(json), json);
});

test('registerPasskey, then signInWithPasskey: a level-2 session; the same assertion again is INVALID_PASSKEY; removePasskey', async () => {
  const email = 'passkey@example.com';
  const a = new Authenticator(origin);
  withCredentials(a.container);
  const client = createClient({ url: server.url, autoRefresh: false });
  await client.signUp({ email, password });
  const pk = await client.registerPasskey({ name: 'Laptop' });
  assert.equal(pk.name, 'Laptop');
  assert.equal(a.seen[0].challenge instanceof ArrayBuffer, true);
  assert.deepEqual((await client.me()).passkeys.map((p) => p.id), [pk.id]);
  await client.signOut();

  const events = [];
  client.onAuthStateChange((e) => events.push(e));
  const session = await client.signInWithPasskey({ email, description: 'passkey test' });
  assert.equal(session.user.email, email);
  assert.deepEqual(events, ['SIGNED_IN']);
  assert.equal(authLevel(session.accessToken), '2');
  // The email named the account: its passkey was offered.
  assert.equal(bufferToBase64url(a.seen[1].allowCredentials[0].id), a.credId.toString('base64url'));

  // The step by step way, and a replay of its assertion.
  const options = await client.beginPasskeySignIn();
  assert.equal(options.allowCredentials, undefined);
  const credential = await navigator.credentials.get({ publicKey: options });
  const stepped = await client.finishPasskeySignIn({ credential });
  const sessionsBefore = (await client.sessions()).map((s) => s.id).sort();
  assert.equal((await refused(client.finishPasskeySignIn({ credential }))).code, 'INVALID_PASSKEY');
  // The replay opened no session and left the client's alone.
  assert.deepEqual((await client.sessions()).map((s) => s.id).sort(), sessionsBefore);
  assert.equal((await client.getSession()).accessToken, stepped.accessToken);
  assert.deepEqual(events, ['SIGNED_IN', 'SIGNED_IN']);

  assert.equal(await client.removePasskey({ id: pk.id }), true);
  assert.deepEqual((await client.me()).passkeys, []);
  client.close();
});

test('the browser refusing the ceremony is PASSKEY_CANCELLED or PASSKEY_UNAVAILABLE; no WebAuthn is PASSKEY_UNAVAILABLE', async () => {
  const a = new Authenticator(origin);
  withCredentials(a.container);
  const client = createClient({ url: server.url, autoRefresh: false });
  await client.signUp({ email: 'refused@example.com', password });
  a.fail = new DOMException('The operation either timed out or was not allowed.', 'NotAllowedError');
  const cancelled = await refused(client.registerPasskey());
  assert.equal(cancelled.code, 'PASSKEY_CANCELLED');
  assert.equal(cancelled.extensions.name, 'NotAllowedError');
  a.fail = new DOMException('The relying party ID is not a registrable domain suffix of the origin.', 'SecurityError');
  const insecure = await refused(client.signInWithPasskey());
  assert.equal(insecure.code, 'PASSKEY_UNAVAILABLE');
  assert.equal(insecure.extensions.name, 'SecurityError');
  withCredentials(null);
  assert.equal((await refused(client.signInWithPasskey())).code, 'PASSKEY_UNAVAILABLE');
  // Still signed in as before: nothing the browser refused changed the session.
  assert.equal((await client.me()).email, 'refused@example.com');
  client.close();
});
