package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// PKCE between the app and authgate (RFC 7636, S256 only): the app that
// starts a provider sign-in keeps a random code verifier and hands
// /auth/{id}/start its challenge; the auth code that comes back to
// redirectTo then signs in only with that verifier. It binds ?code= to the
// app (the browser tab) that started the flow: an attacker's own code, sent
// to a victim's page, does not sign the victim into the attacker's account.
const (
	// codeChallengeLength is an S256 challenge's length: a SHA-256 digest,
	// base64url without padding.
	codeChallengeLength = 43
	// Code verifiers are 43 to 128 unreserved characters (RFC 7636 §4.1).
	minCodeVerifierLength = 43
	maxCodeVerifierLength = 128
)

var (
	errBadCodeChallenge = badInput("codeChallenge must be an S256 PKCE challenge: base64url without padding of the SHA-256 of the code verifier (43 characters)")
	// The refusals of a code's verifier. They are INVALID_AUTH_CODE like an
	// unknown code, and the code is spent by them (ExchangeAuthCode).
	errVerifierMismatch = newError(CodeInvalidAuthCode, "the codeVerifier does not match the codeChallenge this sign-in was started with; sign in again")
	errVerifierMissing  = newError(CodeInvalidAuthCode, "this sign-in was started with a codeChallenge: its codeVerifier is needed; sign in again")
	errVerifierUnwanted = newError(CodeInvalidAuthCode, "this sign-in was started without a codeChallenge, so no codeVerifier can match it: it was not started by this app; sign in again")
)

// CheckCodeChallenge refuses a PKCE code challenge that is not an S256 one:
// exactly 43 base64url characters, no padding, decoding to 32 bytes with no
// stray bits. BAD_USER_INPUT.
func CheckCodeChallenge(challenge string) error {
	if len(challenge) != codeChallengeLength {
		return errBadCodeChallenge
	}
	for i := 0; i < len(challenge); i++ {
		if !isBase64URL(challenge[i]) {
			return errBadCodeChallenge
		}
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(challenge); err != nil || len(b) != sha256.Size {
		return errBadCodeChallenge
	}
	return nil
}

// CodeChallengeS256 is the S256 challenge of a code verifier:
// base64url(SHA-256(verifier)) without padding.
func CodeChallengeS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkCodeVerifier is nil when verifier may exchange a code issued with
// challenge ("" for none): with a challenge, a well-formed verifier whose
// S256 is it (compared in constant time); without one, no verifier at all.
// An app that always sends a verifier thereby never accepts a code from a
// flow it did not start itself. The errors are INVALID_AUTH_CODE.
func checkCodeVerifier(challenge string, verifier *string) error {
	switch {
	case challenge == "" && verifier == nil:
		return nil
	case challenge == "":
		return errVerifierUnwanted
	case verifier == nil:
		return errVerifierMissing
	}
	v := *verifier
	ok := len(v) >= minCodeVerifierLength && len(v) <= maxCodeVerifierLength
	for i := 0; ok && i < len(v); i++ {
		ok = isBase64URL(v[i]) || v[i] == '.' || v[i] == '~'
	}
	if !ok || subtle.ConstantTimeCompare([]byte(CodeChallengeS256(v)), []byte(challenge)) != 1 {
		return errVerifierMismatch
	}
	return nil
}

// isBase64URL reports whether c is of base64url's alphabet (A–Z a–z 0–9 - _).
func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
