// Package refreshtoken makes and recognises authgate's opaque refresh tokens:
// 32 random bytes, base64url without padding. The database only ever sees a
// keyed hash of a token, never the token.
package refreshtoken

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
)

// Size is the number of random bytes in a token.
const Size = 32

// encodedLen is the length of a token's text form.
var encodedLen = base64.RawURLEncoding.EncodedLen(Size)

// Keys derive a token's stored hash and its successor. Both are keyed with
// a server secret: a stolen database yields neither usable tokens nor a way
// to guess the next one.
type Keys struct {
	hashKey      []byte
	successorKey []byte
}

// NewKeys derives the hashing and successor keys from secret (at least 32
// bytes). It fails only when secret is too short.
func NewKeys(secret []byte) (Keys, error) {
	if len(secret) < 32 {
		return Keys{}, fmt.Errorf("refresh token secret must be at least 32 bytes, got %d", len(secret))
	}
	hashKey, err := hkdf.Key(sha256.New, secret, nil, "authgate refresh-token hash v1", 32)
	if err != nil {
		return Keys{}, err
	}
	successorKey, err := hkdf.Key(sha256.New, secret, nil, "authgate refresh-token successor v1", 32)
	if err != nil {
		return Keys{}, err
	}
	return Keys{hashKey: hashKey, successorKey: successorKey}, nil
}

// New returns a fresh random token read from random; it fails only when
// random does.
func New(random io.Reader) (string, error) {
	b := make([]byte, Size)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Valid reports whether token has the shape of a refresh token. An access
// token (a JWT, with dots) or anything else is not one.
func Valid(token string) bool {
	if len(token) != encodedLen {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(token)
	return err == nil
}

// Hash returns the value stored for token: HMAC-SHA-256 under the hash key.
func (k Keys) Hash(token string) []byte {
	m := hmac.New(sha256.New, k.hashKey)
	m.Write([]byte(token))
	return m.Sum(nil)
}

// Successor returns the token that replaces token when it is rotated. It is a
// function of the token, so every concurrent or retried rotation of one token
// yields the same successor without the successor ever being stored; only a
// holder of the token and of the server key can compute it.
func (k Keys) Successor(token string) string {
	m := hmac.New(sha256.New, k.successorKey)
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
