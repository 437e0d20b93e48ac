// Package onetime makes the one-time secrets of every flow that sends or
// hands out one: emailed links and codes, provider sign-in codes, MFA
// tickets. A token is 32 random bytes in base64url; a code is 6 decimal
// digits. Neither is ever stored: only a keyed hash (HMAC-SHA-256 under a
// key derived from a server secret), so a copy of the database yields no
// usable token. Storage, expiry and single use are the store's (one UPDATE
// per consumption); this package only makes and hashes.
package onetime

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Purpose names what a token is for. A token made for one purpose is never
// accepted for another. The names are stored: never rename one.
type Purpose string

// The purposes.
const (
	Verify      Purpose = "verify"       // confirm an address (emailed link)
	Reset       Purpose = "reset"        // choose a new password (emailed link)
	SignIn      Purpose = "signin"       // sign in without a password (emailed link and code)
	EmailChange Purpose = "email_change" // confirm a new address (emailed link)
	AuthCode    Purpose = "auth_code"    // an identity provider's sign-in, exchanged once by the app
	MFATicket   Purpose = "mfa_ticket"   // a first factor passed; the second one finishes the sign-in
	// IdentityLink starts (and, at its callback, ends) linking a provider
	// to the signed-in user that asked for it.
	IdentityLink Purpose = "identity_link"
)

// Purposes lists every purpose, in a stable order.
var Purposes = []Purpose{Verify, Reset, SignIn, EmailChange, AuthCode, MFATicket, IdentityLink}

// Valid reports whether p is one of Purposes.
func (p Purpose) Valid() bool {
	for _, known := range Purposes {
		if p == known {
			return true
		}
	}
	return false
}

// Exclusive reports whether a subject (a user, or an address without an
// account) has at most one live token of p: a newer one replaces the older
// in the statement that makes it. The emailed purposes are exclusive (the
// latest mail is the one that works); provider codes and MFA tickets are
// not (two devices may sign in at once).
func (p Purpose) Exclusive() bool {
	switch p {
	case Verify, Reset, SignIn, EmailChange:
		return true
	}
	return false
}

// TokenBytes is a token's length before encoding; TokenLength after.
const (
	TokenBytes  = 32
	TokenLength = 43 // base64url without padding
)

// CodeDigits is a code's length. MaxCodeAttempts is how many codes, right
// or wrong, one token's code may be tried with; after that it is dead.
const (
	CodeDigits      = 6
	MaxCodeAttempts = 5
)

// NewToken returns a fresh token: TokenBytes from random, base64url
// without padding. It fails only when random does.
func NewToken(random io.Reader) (string, error) {
	b := make([]byte, TokenBytes)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", fmt.Errorf("onetime: reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// WellFormed reports whether s can be a token NewToken made; anything else
// is refused before any database work.
func WellFormed(s string) bool {
	if len(s) != TokenLength {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == TokenBytes
}

// NewCode returns a fresh code of CodeDigits decimal digits, uniformly
// drawn from random (no modulo bias). It fails only when random does.
func NewCode(random io.Reader) (string, error) {
	const n = 1_000_000 // 10^CodeDigits
	const limit = (1 << 32) / n * n
	var b [4]byte
	for {
		if _, err := io.ReadFull(random, b[:]); err != nil {
			return "", fmt.Errorf("onetime: reading randomness: %w", err)
		}
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			return fmt.Sprintf("%06d", v%n), nil
		}
	}
}

// WellFormedCode reports whether s is CodeDigits ASCII digits.
func WellFormedCode(s string) bool {
	if len(s) != CodeDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MinSecretLength is the shortest secret Keys are derived from, in bytes.
const MinSecretLength = 32

// Keys hash tokens and codes for storage and lookup. The first key hashes
// what is stored; every key (the current secret's and previous secrets')
// is tried on lookup, so a secret rotation does not kill tokens in flight.
// Keys is safe for concurrent use.
type Keys struct {
	keys [][]byte
}

// NewKeys derives the hashing keys from secret and, for lookups only,
// from previous secrets. It fails when a secret is shorter than
// MinSecretLength.
func NewKeys(secret []byte, previous ...[]byte) (*Keys, error) {
	k := &Keys{}
	for i, s := range append([][]byte{secret}, previous...) {
		if len(s) < MinSecretLength {
			if i == 0 {
				return nil, fmt.Errorf("onetime: the secret must be at least %d bytes, got %d", MinSecretLength, len(s))
			}
			return nil, fmt.Errorf("onetime: previous secret %d must be at least %d bytes, got %d", i, MinSecretLength, len(s))
		}
		key, err := hkdf.Key(sha256.New, s, nil, "authgate one-time tokens v1", 32)
		if err != nil {
			return nil, err
		}
		k.keys = append(k.keys, key)
	}
	return k, nil
}

// ErrNoKeys is what a nil *Keys is used for.
var ErrNoKeys = errors.New("onetime: no hashing key is configured")

// TokenHash is the stored form of token.
func (k *Keys) TokenHash(token string) []byte {
	return mac(k.keys[0], "token", token)
}

// TokenHashes are token's hash under every key, the current one first.
func (k *Keys) TokenHashes(token string) [][]byte {
	out := make([][]byte, len(k.keys))
	for i, key := range k.keys {
		out[i] = mac(key, "token", token)
	}
	return out
}

// CodeHash is the stored form of a code sent to email for purpose. The
// address and purpose are in the hash: a code is short, and is only ever
// compared for the one address it was sent to.
func (k *Keys) CodeHash(purpose Purpose, email, code string) []byte {
	return mac(k.keys[0], "code", string(purpose), email, code)
}

// CodeHashes are the code's hash under every key, the current one first.
func (k *Keys) CodeHashes(purpose Purpose, email, code string) [][]byte {
	out := make([][]byte, len(k.keys))
	for i, key := range k.keys {
		out[i] = mac(key, "code", string(purpose), email, code)
	}
	return out
}

// mac is HMAC-SHA-256 of the parts, each prefixed by its length so that no
// two part lists hash alike.
func mac(key []byte, parts ...string) []byte {
	h := hmac.New(sha256.New, key)
	var n [4]byte
	for _, p := range parts {
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}
