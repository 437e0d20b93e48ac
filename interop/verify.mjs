// Verifies one authgate access token with npm's jose, an implementation
// independent of the Go one authgate signs with.
//
//   node verify.mjs <authgate base URL> <access token> <issuer> <audience> [<HS secret>]
//
// Asymmetric tokens are verified against the keys authgate publishes at
// /.well-known/jwks.json (the way Hasura's jwk_url works); HS tokens with the
// shared secret. Issuer and audience are checked. Exit 0 when valid.
import * as jose from 'jose';

const [baseURL, token, issuer, audience, secret] = process.argv.slice(2);
if (!baseURL || !token || !issuer || !audience) {
  console.error('usage: node verify.mjs <base URL> <token> <issuer> <audience> [<HS secret>]');
  process.exit(2);
}

const header = jose.decodeProtectedHeader(token);
let key;
if (header.alg.startsWith('HS')) {
  key = new TextEncoder().encode(secret);
} else {
  const res = await fetch(new URL('/.well-known/jwks.json', baseURL));
  if (!res.ok) throw new Error(`JWKS answered ${res.status}`);
  if (!/max-age=\d+/.test(res.headers.get('cache-control') || '')) {
    throw new Error('JWKS is served without Cache-Control max-age: Hasura would never refresh it');
  }
  key = jose.createLocalJWKSet(await res.json());
}
const { payload, protectedHeader } = await jose.jwtVerify(token, key, {
  issuer,
  audience,
  algorithms: [header.alg],
  requiredClaims: ['exp', 'iat', 'sub', 'jti'],
});
const claims = payload['https://hasura.io/jwt/claims'];
if (!claims || claims['x-hasura-user-id'] !== payload.sub || !Array.isArray(claims['x-hasura-allowed-roles'])) {
  throw new Error('Hasura claims missing or inconsistent');
}
console.log(`ok ${protectedHeader.alg} kid=${protectedHeader.kid} sub=${payload.sub}`);
