export { createClient, AuthgateClient } from './client.js';
export type { AuthChangeEvent, AuthSession, ClientOptions, Identity, Passkey, Session, User, UserDetails } from './client.js';
export { AuthgateError, isUnauthenticated } from './errors.js';
export type { AuthgateErrorCode } from './errors.js';
export type { StorageLike, StorageOption } from './storage.js';
export { base64urlToBuffer, bufferToBase64url, creationOptionsFromJSON, credentialToJSON, requestOptionsFromJSON } from './webauthn.js';
export type { PasskeyCredential } from './webauthn.js';
export { codeChallengeS256, createCodeVerifier, parseProviderRedirect, providerSignInUrl } from './providers.js';
export type { ProviderRedirect } from './providers.js';
