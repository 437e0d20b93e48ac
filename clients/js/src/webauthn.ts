import { AuthgateError } from './errors.js';

/*
 * authgate speaks WebAuthn in JSON (base64url strings), the browser in
 * ArrayBuffers. These functions convert both ways, so that an app hands the
 * options straight to navigator.credentials and the credential straight back.
 * They do what PublicKeyCredential.parseCreationOptionsFromJSON,
 * parseRequestOptionsFromJSON and toJSON do, in browsers that lack them.
 */

/** base64urlToBuffer decodes base64url (padding optional; plain base64 is read too). */
export function base64urlToBuffer(s: string): ArrayBuffer {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  const bin = atob(b64 + '==='.slice((b64.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

/** bufferToBase64url encodes bytes as unpadded base64url. */
export function bufferToBase64url(b: ArrayBuffer | ArrayBufferView): string {
  const bytes = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

type Json = Record<string, unknown>;

function descriptors(list: unknown): PublicKeyCredentialDescriptor[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.map((d: Json) => ({ ...d, id: base64urlToBuffer(String(d.id)) }) as PublicKeyCredentialDescriptor);
}

function withoutUndefined<T extends Json>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/** creationOptionsFromJSON turns beginPasskeyRegistration's JSON into options for navigator.credentials.create({ publicKey }). */
export function creationOptionsFromJSON(o: Json): PublicKeyCredentialCreationOptions {
  const user = (o.user ?? {}) as Json;
  return withoutUndefined({
    ...o,
    challenge: base64urlToBuffer(String(o.challenge)),
    user: { ...user, id: base64urlToBuffer(String(user.id)) },
    excludeCredentials: descriptors(o.excludeCredentials),
  }) as unknown as PublicKeyCredentialCreationOptions;
}

/** requestOptionsFromJSON turns beginPasskeySignIn's JSON into options for navigator.credentials.get({ publicKey }). */
export function requestOptionsFromJSON(o: Json): PublicKeyCredentialRequestOptions {
  return withoutUndefined({
    ...o,
    challenge: base64urlToBuffer(String(o.challenge)),
    allowCredentials: descriptors(o.allowCredentials),
  }) as unknown as PublicKeyCredentialRequestOptions;
}

/** What navigator.credentials.create or get resolved to; or its JSON (passed through as it is). */
export type PasskeyCredential = Credential | PublicKeyCredential | Json;

/**
 * credentialToJSON turns a PublicKeyCredential into the JSON authgate reads
 * (PublicKeyCredential.toJSON's shape: binary fields in base64url). A value
 * that already is that JSON (rawId a string) is returned unchanged.
 */
export function credentialToJSON(c: PasskeyCredential): Json {
  const cred = c as Json & {
    rawId?: unknown;
    response?: Json & { getTransports?: () => string[] };
    getClientExtensionResults?: () => Json;
  };
  if (!cred || typeof cred !== 'object') throw new TypeError('@authgate/client: a passkey credential is needed');
  if (typeof cred.rawId === 'string') return cred;
  if (typeof cred.toJSON === 'function') return (cred.toJSON as () => Json)();
  const r = cred.response ?? {};
  const bin = (v: unknown) => (v instanceof ArrayBuffer || ArrayBuffer.isView(v) ? bufferToBase64url(v as ArrayBuffer) : undefined);
  const response: Json = { clientDataJSON: bin(r.clientDataJSON) };
  if (r.attestationObject !== undefined) {
    // A registration.
    response.attestationObject = bin(r.attestationObject);
    if (typeof r.getTransports === 'function') response.transports = r.getTransports();
  } else {
    response.authenticatorData = bin(r.authenticatorData);
    response.signature = bin(r.signature);
    response.userHandle = r.userHandle ? bin(r.userHandle) : null;
  }
  return withoutUndefined({
    id: String(cred.id ?? bufferToBase64url(cred.rawId as ArrayBuffer)),
    rawId: bufferToBase64url(cred.rawId as ArrayBuffer),
    type: String(cred.type ?? 'public-key'),
    authenticatorAttachment: (cred.authenticatorAttachment as string | null | undefined) ?? undefined,
    response: withoutUndefined(response),
    clientExtensionResults: typeof cred.getClientExtensionResults === 'function' ? cred.getClientExtensionResults() : {},
  });
}

/**
 * ceremony runs navigator.credentials.create or get. Failures become
 * AuthgateError: PASSKEY_CANCELLED when the person closed the dialog or it
 * timed out (the browser's NotAllowedError, or AbortError for an aborted
 * signal), PASSKEY_UNAVAILABLE for anything else the browser refused (no
 * WebAuthn here, an RP ID that does not fit the page: SecurityError, …);
 * extensions.name keeps the browser's error name.
 */
export function ceremony(kind: 'create', options: CredentialCreationOptions): Promise<PasskeyCredential>;
export function ceremony(kind: 'get', options: CredentialRequestOptions): Promise<PasskeyCredential>;
export async function ceremony(kind: 'create' | 'get', options: CredentialCreationOptions | CredentialRequestOptions): Promise<PasskeyCredential> {
  const container = (globalThis as { navigator?: { credentials?: CredentialsContainer } }).navigator?.credentials;
  if (!container || typeof container[kind] !== 'function') {
    throw new AuthgateError('PASSKEY_UNAVAILABLE', 'passkeys need a browser with WebAuthn (navigator.credentials)');
  }
  let cred: Credential | null;
  try {
    cred = kind === 'create' ? await container.create(options as CredentialCreationOptions) : await container.get(options as CredentialRequestOptions);
  } catch (e) {
    const name = (e as { name?: unknown })?.name;
    const cancelled = name === 'NotAllowedError' || name === 'AbortError';
    const err = new AuthgateError(cancelled ? 'PASSKEY_CANCELLED' : 'PASSKEY_UNAVAILABLE', (e as Error)?.message || String(e), {
      name: typeof name === 'string' ? name : 'Error',
    });
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
  if (!cred) throw new AuthgateError('PASSKEY_CANCELLED', 'the browser returned no passkey', { name: 'NotAllowedError' });
  return cred;
}
