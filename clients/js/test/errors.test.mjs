// The error mapping, including Hasura's own shapes (a pure function: no server needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthgateError } from '../dist/index.js';
import { errorFrom } from '../dist/errors.js';

test("Hasura's invalid-jwt for an expired token reads as UNAUTHENTICATED, reason expired", () => {
  const e = errorFrom({ message: 'Could not verify JWT: JWTExpired', extensions: { path: '$', code: 'invalid-jwt' } }, 200);
  assert.ok(e instanceof AuthgateError);
  assert.equal(e.code, 'UNAUTHENTICATED');
  assert.equal(e.reason, 'expired');
  assert.equal(e.extensions.hasuraCode, 'invalid-jwt');
});

test('an action error passed on by Hasura keeps its code and retryAfter', () => {
  const e = errorFrom({ message: 'too many failed sign-ins', extensions: { code: 'RATE_LIMITED', retryAfter: 7 } }, 200);
  assert.equal(e.code, 'RATE_LIMITED');
  assert.equal(e.retryAfter, 7);
});

test('a 429 without a code is RATE_LIMITED with the Retry-After header', () => {
  const e = errorFrom({ message: 'slow down' }, 429, '12');
  assert.equal(e.code, 'RATE_LIMITED');
  assert.equal(e.retryAfter, 12);
});
