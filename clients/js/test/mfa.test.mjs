// Second factors through @authgate/client against the real authgate: turn
// TOTP on, sign in again (MFA_REQUIRED with a ticket), finish with a code
// the test computes from the secret (RFC 6238), and with a recovery code.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createClient, AuthgateError } from '../dist/index.js';
import { startServer } from './harness.mjs';

let server;
before(async () => {
  server = await startServer({ AUTHGATE_MFA_ENCRYPTION_KEY: randomBytes(32).toString('hex') });
});
after(async () => {
  await server?.stop();
});

function base32(s) {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s.replace(/=+$/, '').toUpperCase()) bits += abc.indexOf(c).toString(2).padStart(5, '0');
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}

function totp(secret, at = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30000)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const off = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1e6).padStart(6, '0');
}

test('TOTP: enroll, confirm, then a sign-in answers MFA_REQUIRED and completeMfa finishes it (code, then recovery code)', async () => {
  const email = 'mfa@example.com';
  const password = 'correct horse battery';
  const client = createClient({ url: server.url, autoRefresh: false });
  await client.signUp({ email, password });
  const enrollment = await client.enrollTotp();
  assert.match(enrollment.otpauthUrl, /^otpauth:\/\//);
  const recovery = await client.confirmTotp({ code: totp(enrollment.secret) });
  assert.equal(recovery.length, 10);
  await client.signOut();

  const required = await client.signIn({ email, password }).catch((e) => e);
  assert.ok(required instanceof AuthgateError);
  assert.equal(required.code, 'MFA_REQUIRED');
  assert.equal(typeof required.extensions.ticket, 'string');
  const wrong = await client.completeMfa({ ticket: required.extensions.ticket, code: '000000' === totp(enrollment.secret) ? '111111' : '000000' }).catch((e) => e);
  assert.equal(wrong.code, 'INVALID_MFA_CODE');
  const events = [];
  client.onAuthStateChange((e) => events.push(e));
  // A wrong code does not use up the ticket; a recovery code is a second factor too.
  const session = await client.completeMfa({ ticket: required.extensions.ticket, recoveryCode: recovery[0], description: 'mfa test' });
  assert.equal(session.user.email, email);
  assert.deepEqual(events, ['SIGNED_IN']);
  assert.equal((await client.me()).email, email);
  client.close();
});
