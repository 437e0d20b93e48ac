// A software WebAuthn authenticator standing in for navigator.credentials in
// Node (the JavaScript twin of internal/authtest/webauthn.go): one ES256
// discoverable credential, user verification on, "none" attestation. It takes
// the options as a browser does (binary fields as ArrayBuffers: the client
// must have converted them) and answers PublicKeyCredential-shaped objects
// with ArrayBuffer fields and no toJSON, so the client's own conversion runs.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/** cbor encodes the few CBOR shapes WebAuthn needs: maps, integers, byte and text strings. */
export function cbor(v) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
    if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') return Buffer.concat([head(3, Buffer.byteLength(v)), Buffer.from(v)]);
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.concat([head(2, v.length), Buffer.from(v)]);
  if (v instanceof Map) return Buffer.concat([head(5, v.size), ...[...v].flatMap(([k, x]) => [cbor(k), cbor(x)])]);
  if (v && typeof v === 'object') return cbor(new Map(Object.entries(v)));
  throw new TypeError(`cbor: ${v}`);
}

const b64url = (b) => Buffer.from(b).toString('base64url');
const sha256 = (b) => createHash('sha256').update(b).digest();
const ab = (b) => {
  const u = Uint8Array.from(b);
  return u.buffer;
};

export class Authenticator {
  /** origin is the page the "browser" says the ceremony came from. */
  constructor(origin) {
    this.origin = origin;
    this.signCount = 0;
    this.seen = [];
    /** fail, when set, is thrown by the next ceremony (a DOMException, as a browser's). */
    this.fail = null;
  }

  /** container is what navigator.credentials would be. */
  get container() {
    return {
      create: async (o) => this.create(o),
      get: async (o) => this.get(o),
    };
  }

  clientData(type, challenge) {
    if (!(challenge instanceof ArrayBuffer)) throw new TypeError('challenge must be an ArrayBuffer');
    return Buffer.from(JSON.stringify({ type, challenge: b64url(Buffer.from(challenge)), origin: this.origin, crossOrigin: false }));
  }

  authData(rpId, extra, attested = Buffer.alloc(0)) {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.signCount);
    return Buffer.concat([sha256(rpId), Buffer.from([0x01 | 0x04 | extra]), count, attested]);
  }

  takeFailure() {
    const f = this.fail;
    this.fail = null;
    if (f) throw f;
  }

  create({ publicKey }) {
    this.seen.push(publicKey);
    this.takeFailure();
    if (!(publicKey.user.id instanceof ArrayBuffer)) throw new TypeError('user.id must be an ArrayBuffer');
    const { privateKey, publicKey: pub } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = pub.export({ format: 'jwk' });
    this.key = privateKey;
    this.credId = randomBytes(32);
    this.userHandle = Buffer.from(publicKey.user.id);
    const cose = cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x, 'base64url')], [-3, Buffer.from(jwk.y, 'base64url')]]));
    const len = Buffer.alloc(2);
    len.writeUInt16BE(this.credId.length);
    const attested = Buffer.concat([Buffer.alloc(16), len, this.credId, cose]);
    const authData = this.authData(publicKey.rp.id ?? 'localhost', 0x40, attested);
    const attestationObject = cbor(new Map([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    return this.credential(
      {
        clientDataJSON: ab(this.clientData('webauthn.create', publicKey.challenge)),
        attestationObject: ab(attestationObject),
        getTransports: () => ['internal'],
      },
      { credProps: { rk: true } },
    );
  }

  get({ publicKey }) {
    this.seen.push(publicKey);
    this.takeFailure();
    if (!this.key) throw new DOMException('no credential', 'NotAllowedError');
    this.signCount++;
    const clientData = this.clientData('webauthn.get', publicKey.challenge);
    const authData = this.authData(publicKey.rpId, 0);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientData)]), this.key);
    return this.credential(
      {
        clientDataJSON: ab(clientData),
        authenticatorData: ab(authData),
        signature: ab(signature),
        userHandle: ab(this.userHandle),
      },
      {},
    );
  }

  /** credential is the PublicKeyCredential-shaped answer (ArrayBuffers, no toJSON) for this authenticator's credential. */
  credential(response, extensionResults) {
    return {
      id: b64url(this.credId),
      rawId: ab(this.credId),
      type: 'public-key',
      authenticatorAttachment: 'platform',
      response,
      getClientExtensionResults: () => extensionResults,
    };
  }
}
