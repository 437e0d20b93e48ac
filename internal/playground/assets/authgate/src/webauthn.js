import { AuthgateError } from './errors.js';
/*
 * authgate speaks WebAuthn in JSON (base64url strings), the browser in
 * ArrayBuffers. These functions convert both ways, so that an app hands the
 * options straight to navigator.credentials and the credential straight back.
 * They do what PublicKeyCredential.parseCreationOptionsFromJSON,
 * parseRequestOptionsFromJSON and toJSON do, in browsers that lack them.
 */
/** base64urlToBuffer decodes base64url (padding optional; plain base64 is read too). */
export function base64urlToBuffer(s) {
    const b64 = s.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
    const bin = atob(b64 + '==='.slice((b64.length + 3) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++)
        out[i] = bin.charCodeAt(i);
    return out.buffer;
}
/** bufferToBase64url encodes bytes as unpadded base64url. */
export function bufferToBase64url(b) {
    const bytes = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000)
        bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function descriptors(list) {
    if (!Array.isArray(list))
        return undefined;
    return list.map((d) => ({ ...d, id: base64urlToBuffer(String(d.id)) }));
}
function withoutUndefined(o) {
    for (const k of Object.keys(o))
        if (o[k] === undefined)
            delete o[k];
    return o;
}
/** creationOptionsFromJSON turns beginPasskeyRegistration's JSON into options for navigator.credentials.create({ publicKey }). */
export function creationOptionsFromJSON(o) {
    const user = (o.user ?? {});
    return withoutUndefined({
        ...o,
        challenge: base64urlToBuffer(String(o.challenge)),
        user: { ...user, id: base64urlToBuffer(String(user.id)) },
        excludeCredentials: descriptors(o.excludeCredentials),
    });
}
/** requestOptionsFromJSON turns beginPasskeySignIn's JSON into options for navigator.credentials.get({ publicKey }). */
export function requestOptionsFromJSON(o) {
    return withoutUndefined({
        ...o,
        challenge: base64urlToBuffer(String(o.challenge)),
        allowCredentials: descriptors(o.allowCredentials),
    });
}
/**
 * credentialToJSON turns a PublicKeyCredential into the JSON authgate reads
 * (PublicKeyCredential.toJSON's shape: binary fields in base64url). A value
 * that already is that JSON (rawId a string) is returned unchanged.
 */
export function credentialToJSON(c) {
    const cred = c;
    if (!cred || typeof cred !== 'object')
        throw new TypeError('@authgate/client: a passkey credential is needed');
    if (typeof cred.rawId === 'string')
        return cred;
    if (typeof cred.toJSON === 'function')
        return cred.toJSON();
    const r = cred.response ?? {};
    const bin = (v) => (v instanceof ArrayBuffer || ArrayBuffer.isView(v) ? bufferToBase64url(v) : undefined);
    const response = { clientDataJSON: bin(r.clientDataJSON) };
    if (r.attestationObject !== undefined) {
        // A registration.
        response.attestationObject = bin(r.attestationObject);
        if (typeof r.getTransports === 'function')
            response.transports = r.getTransports();
    }
    else {
        response.authenticatorData = bin(r.authenticatorData);
        response.signature = bin(r.signature);
        response.userHandle = r.userHandle ? bin(r.userHandle) : null;
    }
    return withoutUndefined({
        id: String(cred.id ?? bufferToBase64url(cred.rawId)),
        rawId: bufferToBase64url(cred.rawId),
        type: String(cred.type ?? 'public-key'),
        authenticatorAttachment: cred.authenticatorAttachment ?? undefined,
        response: withoutUndefined(response),
        clientExtensionResults: typeof cred.getClientExtensionResults === 'function' ? cred.getClientExtensionResults() : {},
    });
}
export async function ceremony(kind, options) {
    const container = globalThis.navigator?.credentials;
    if (!container || typeof container[kind] !== 'function') {
        throw new AuthgateError('PASSKEY_UNAVAILABLE', 'passkeys need a browser with WebAuthn (navigator.credentials)');
    }
    let cred;
    try {
        cred = kind === 'create' ? await container.create(options) : await container.get(options);
    }
    catch (e) {
        const name = e?.name;
        const cancelled = name === 'NotAllowedError' || name === 'AbortError';
        const err = new AuthgateError(cancelled ? 'PASSKEY_CANCELLED' : 'PASSKEY_UNAVAILABLE', e?.message || String(e), {
            name: typeof name === 'string' ? name : 'Error',
        });
        err.cause = e;
        throw err;
    }
    if (!cred)
        throw new AuthgateError('PASSKEY_CANCELLED', 'the browser returned no passkey', { name: 'NotAllowedError' });
    return cred;
}
