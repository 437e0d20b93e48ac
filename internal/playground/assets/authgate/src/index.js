export { createClient, AuthgateClient } from './client.js';
export { AuthgateError, isUnauthenticated } from './errors.js';
export { base64urlToBuffer, bufferToBase64url, creationOptionsFromJSON, credentialToJSON, requestOptionsFromJSON } from './webauthn.js';
export { codeChallengeS256, createCodeVerifier, parseProviderRedirect, providerSignInUrl } from './providers.js';
