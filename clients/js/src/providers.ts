/*
 * Provider sign-in in the browser (docs/providers.md): the app sends the
 * browser to authgate's /auth/{provider}/start?redirectTo=…; authgate brings
 * it back to redirectTo with ?code= (a one-time code for exchangeAuthCode) or
 * ?error=CODE&error_description=…. These are the pure parts; the client's
 * signInWithProvider and handleProviderRedirect use them.
 */
import { bufferToBase64url } from './webauthn.js';

/**
 * providerSignInUrl is where to send the browser to sign in with provider:
 * `${authOrigin}/auth/${provider}/start?redirectTo=…[&codeChallenge=…]`.
 * authOrigin is where browsers reach authgate (AUTHGATE_PUBLIC_URL, maybe with
 * a path prefix); codeChallenge is the PKCE challenge of a verifier the app
 * keeps for exchangeAuthCode (createCodeVerifier, codeChallengeS256).
 */
export function providerSignInUrl(p: { authOrigin: string; provider: string; redirectTo: string; codeChallenge?: string }): string {
  if (!p || typeof p.authOrigin !== 'string' || p.authOrigin === '') throw new TypeError('@authgate/client: providerSignInUrl needs authOrigin: where browsers reach authgate');
  if (typeof p.provider !== 'string' || p.provider === '') throw new TypeError('@authgate/client: providerSignInUrl needs a provider');
  if (typeof p.redirectTo !== 'string' || p.redirectTo === '') throw new TypeError('@authgate/client: providerSignInUrl needs redirectTo');
  const url = `${p.authOrigin.replace(/\/+$/, '')}/auth/${encodeURIComponent(p.provider)}/start?redirectTo=${encodeURIComponent(p.redirectTo)}`;
  return p.codeChallenge ? `${url}&codeChallenge=${encodeURIComponent(p.codeChallenge)}` : url;
}

function webCrypto(): Crypto {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (!c || typeof c.getRandomValues !== 'function' || !c.subtle) {
    throw new TypeError('@authgate/client: provider sign-in needs the Web Crypto API (crypto.getRandomValues, crypto.subtle): a browser page served over https or localhost, or Node 20+');
  }
  return c;
}

/** createCodeVerifier makes a PKCE code verifier: 32 random bytes (crypto.getRandomValues), base64url — 43 characters. */
export function createCodeVerifier(): string {
  return bufferToBase64url(webCrypto().getRandomValues(new Uint8Array(32)));
}

/** codeChallengeS256 is the PKCE S256 challenge of verifier: base64url(SHA-256(verifier)) without padding, 43 characters. */
export async function codeChallengeS256(verifier: string): Promise<string> {
  return bufferToBase64url(await webCrypto().subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
}

/** What the page a provider sign-in returned to finds in its URL. */
export interface ProviderRedirect {
  /** The one-time code for exchangeAuthCode, or null. */
  code: string | null;
  /** The error code authgate sent back (ACCOUNT_EXISTS, PROVIDER_ERROR, …), or null. */
  error: string | null;
  /** Its human-readable description, or null. */
  errorDescription: string | null;
  /** The URL without code, error and error_description (its other parameters and hash kept). */
  cleanUrl: string;
}

const redirectParams = ['code', 'error', 'error_description'];

/** parseProviderRedirect reads what authgate appended to redirectTo; code and error are null when the URL carries neither. */
export function parseProviderRedirect(url: string | URL): ProviderRedirect {
  const u = new URL(String(url));
  const q = u.searchParams;
  const found = {
    code: q.get('code') || null,
    error: q.get('error') || null,
    errorDescription: q.get('error_description') || null,
  };
  if (redirectParams.some((k) => q.has(k))) {
    for (const k of redirectParams) q.delete(k);
    // URLSearchParams writes '?' for an empty query: drop it.
    if (q.toString() === '') u.search = '';
  }
  return { ...found, cleanUrl: u.toString() };
}

/**
 * authOriginFrom guesses where browsers reach authgate from the client's
 * GraphQL url: authgate's own `…/graphql` less that suffix; none for
 * Hasura's `/v1/graphql` (pass ClientOptions.authOrigin then).
 */
export function authOriginFrom(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url, (globalThis as { location?: { href?: string } }).location?.href);
  } catch {
    return undefined;
  }
  if (/\/v1\/graphql\/?$/.test(u.pathname) || !/\/graphql\/?$/.test(u.pathname)) return undefined;
  return u.origin + u.pathname.replace(/\/graphql\/?$/, '');
}
