package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator is a software WebAuthn authenticator for tests: one ES256
// discoverable credential, user verification on, "none" attestation. It
// answers the options authgate hands out as a browser would (the JSON of
// PublicKeyCredential), from Origin; tests change its fields to stage
// attacks (another origin, a counter going back, a cloned key).
type Authenticator struct {
	// Origin is the page the browser says the ceremony came from.
	Origin string
	// RPID, when set, overrides the RP ID the authenticator signs for.
	RPID string
	// SignCount is the counter of the last signature (the next is one more).
	SignCount uint32
	// NoUserVerification leaves the UV flag off.
	NoUserVerification bool

	key        *ecdsa.PrivateKey
	credID     []byte
	userHandle []byte
}

// NewAuthenticator returns an authenticator with no credential yet.
func NewAuthenticator(origin string) *Authenticator {
	return &Authenticator{Origin: origin}
}

// Clone is another authenticator holding the same credential and counter.
func (a *Authenticator) Clone() *Authenticator {
	c := *a
	return &c
}

var b64 = base64.RawURLEncoding

// Create answers PublicKeyCredentialCreationOptions with a new credential.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	a.key = key
	a.credID = make([]byte, 32)
	_, _ = rand.Read(a.credID)
	if a.userHandle, err = b64.DecodeString(o.User.ID); err != nil {
		return nil, fmt.Errorf("user.id: %w", err)
	}
	clientData := a.clientData("webauthn.create", o.Challenge)
	pub := key.PublicKey
	x, y := pub.X.FillBytes(make([]byte, 32)), pub.Y.FillBytes(make([]byte, 32))
	coseKey, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		return nil, err
	}
	attested := make([]byte, 0, 16+2+len(a.credID)+len(coseKey))
	attested = append(attested, make([]byte, 16)...) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.credID)))
	attested = append(attested, a.credID...)
	attested = append(attested, coseKey...)
	authData := a.authData(o.RP.ID, 0x40, attested)
	attObj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"attestationObject": b64.EncodeToString(attObj),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": true}},
	})
}

// Get answers PublicKeyCredentialRequestOptions with an assertion of the
// credential, its counter one more than SignCount.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	if a.key == nil {
		return nil, fmt.Errorf("authtest: the authenticator holds no credential")
	}
	var o struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	a.SignCount++
	clientData := a.clientData("webauthn.get", o.Challenge)
	authData := a.authData(o.RPID, 0, nil)
	digest := sha256.Sum256(clientData)
	signed := sha256.Sum256(append(append([]byte{}, authData...), digest[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, signed[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(a.userHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

// UseHandleOf makes the authenticator name other's user in its assertions
// (a passkey presented as another user's).
func (a *Authenticator) UseHandleOf(other *Authenticator) { a.userHandle = other.userHandle }

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

// authData is the authenticator data: the RP ID's hash, the flags (user
// present, verified unless NoUserVerification, and extra), the counter and
// the attested credential data, if any.
func (a *Authenticator) authData(rpID string, extra byte, attested []byte) []byte {
	if a.RPID != "" {
		rpID = a.RPID
	}
	h := sha256.Sum256([]byte(rpID))
	flags := byte(0x01) | extra
	if !a.NoUserVerification {
		flags |= 0x04
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.SignCount)
	return append(out, attested...)
}
