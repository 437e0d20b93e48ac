package mfa

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"

	"authgate/internal/sealbox"
)

// MinKeyLength is the shortest AUTHGATE_MFA_ENCRYPTION_KEY, in bytes.
const MinKeyLength = sealbox.MinSecretLength

// RecoveryCodeCount is how many recovery codes a set holds.
const RecoveryCodeCount = 10

// Recovery codes are 10 characters of a 32-letter alphabet (50 bits),
// written as two groups of 5: long enough that guessing one online is
// hopeless under the login throttle, short enough to type from paper.
// The alphabet leaves out 0, 1, l and o, which people misread.
const (
	recoveryAlphabet = "23456789abcdefghijkmnpqrstuvwxyz"
	recoveryLength   = 10
)

// ErrCannotOpen is what OpenTOTPSecret returns for a sealed secret that is
// not this user's under a known key.
var ErrCannotOpen = errors.New("mfa: the TOTP secret cannot be opened with the configured keys")

// Keys seal TOTP secrets and hash recovery codes, under keys derived from
// AUTHGATE_MFA_ENCRYPTION_KEY (the current one seals and hashes; previous
// ones, during a rotation, still open and match). It is safe for
// concurrent use.
type Keys struct {
	box *sealbox.Box
	// recovery[0] is the current key.
	recovery [][]byte
}

// NewKeys derives the keys from secret and the previous secrets. It fails
// when one is shorter than MinKeyLength.
func NewKeys(secret []byte, previous ...[]byte) (*Keys, error) {
	box, err := sealbox.New("authgate mfa totp secret", secret, previous...)
	if err != nil {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	k := &Keys{box: box}
	for _, s := range append([][]byte{secret}, previous...) {
		key, err := hkdf.Key(sha256.New, s, nil, "authgate mfa recovery code hash", 32)
		if err != nil {
			return nil, err
		}
		k.recovery = append(k.recovery, key)
	}
	return k, nil
}

// SealTOTPSecret seals userID's secret; the box opens for that user only, so
// a secret copied to another user's row in the database is useless there.
func (k *Keys) SealTOTPSecret(userID, secret string) []byte {
	return k.box.Seal([]byte(userID + "\x00" + secret))
}

// OpenTOTPSecret opens what SealTOTPSecret sealed for userID; ErrCannotOpen
// for anything else.
func (k *Keys) OpenTOTPSecret(userID string, sealed []byte) (string, error) {
	plain, err := k.box.Open(sealed)
	if err != nil {
		return "", ErrCannotOpen
	}
	owner, secret, ok := strings.Cut(string(plain), "\x00")
	if !ok || owner != userID {
		return "", ErrCannotOpen
	}
	return secret, nil
}

// NewRecoveryCodes draws a set of RecoveryCodeCount codes from random,
// formatted xxxxx-xxxxx. It fails only when random does.
func NewRecoveryCodes(random io.Reader) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	buf := make([]byte, recoveryLength)
	for i := range codes {
		if _, err := io.ReadFull(random, buf); err != nil {
			return nil, fmt.Errorf("mfa: reading randomness: %w", err)
		}
		var b strings.Builder
		for j, c := range buf {
			if j == recoveryLength/2 {
				b.WriteByte('-')
			}
			// 256 is a multiple of 32: no bias.
			b.WriteByte(recoveryAlphabet[int(c)%len(recoveryAlphabet)])
		}
		codes[i] = b.String()
	}
	return codes, nil
}

// NormalizeRecoveryCode reads a recovery code as people type it (any case,
// with or without the dash or spaces); ok is false when it cannot be one.
func NormalizeRecoveryCode(code string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r < 128 && strings.IndexByte(recoveryAlphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", false
		}
		if b.Len() > recoveryLength {
			return "", false
		}
	}
	if b.Len() != recoveryLength {
		return "", false
	}
	return b.String(), true
}

// RecoveryCodeHash is the stored form of userID's normalized recovery code
// under the current key.
func (k *Keys) RecoveryCodeHash(userID, normalized string) []byte {
	return recoveryHash(k.recovery[0], userID, normalized)
}

// RecoveryCodeHashes are the forms a stored hash of the code may have: under
// the current key and each previous one.
func (k *Keys) RecoveryCodeHashes(userID, normalized string) [][]byte {
	out := make([][]byte, len(k.recovery))
	for i, key := range k.recovery {
		out[i] = recoveryHash(key, userID, normalized)
	}
	return out
}

func recoveryHash(key []byte, userID, normalized string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write([]byte(normalized))
	return m.Sum(nil)
}
