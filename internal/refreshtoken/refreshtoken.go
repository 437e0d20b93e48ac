// Package refreshtoken makes and checks authgate's refresh tokens.
//
// # The token (format 2)
//
// A token is base64url (no padding, 103 characters) of 77 bytes:
//
//	version (1 byte, 2) | key id (4) | session id (16) | generation g (8, big-endian)
//	| b = SHA-256(S || g) (32) | a = HMAC-SHA-256(K, all of the above) truncated to 16
//
// S is the session's token secret: 32 random bytes made when the session is
// opened and kept only in its row (auth.sessions.token_secret). K is the
// server refresh key the key id names: the current one
// (AUTHGATE_REFRESH_TOKEN_SECRET) or a previous one still accepted. The row
// keeps a generation counter; a rotation moves it from g to g+1, and the
// successor is the token of (session, g+1) under the current key. The
// successor is derived, never stored: the statement that rotates returns
// SHA-256(S || g+1), and the server adds its MAC.
//
// # Why it cannot be forged, followed or replayed
//
//  1. Minting needs both secrets. a needs K: without it a guess is right
//     with probability 2^-128, and a token whose a fails is refused before
//     the database is asked (constant-time comparison), so guessing costs
//     the server nothing and learns nothing. b needs S: SHA-256 of a secret
//     32-byte prefix is unpredictable, and its input always has the same
//     length (40 bytes), so length extension yields no other valid b. A copy
//     of the database (S, no K) cannot make a; a server key alone (K, no S)
//     cannot make b — so the key cannot mint a token for a session id read
//     from an access token, and the JWT key Hasura holds is neither anyway.
//  2. One token does not lead to the next. A holder of K and of the token
//     of generation g knows b_g = SHA-256(S || g), from which b_{g+1} cannot
//     be computed without S. Stealing a token gives that token, which is what
//     reuse detection is for; it gives no way to follow the chain.
//  3. A forged token changes nothing. The refresh statement checks b against
//     the row before anything else: a wrong b (or a generation the server
//     never issued, g > generation, which only a restored backup can make)
//     is "unknown", answered INVALID_REFRESH_TOKEN with nothing written, so
//     a token built with K and a guessed S cannot end a session either.
//  4. Another session's token does not fit. The session id is inside the MAC
//     and b is bound to that session's S: changing the id breaks both.
//  5. Exactly one rotation per generation. The statement finds the session
//     by primary key and locks it (FOR NO KEY UPDATE); under READ COMMITTED
//     a concurrent refresh waits and then sees the new generation. Of N
//     simultaneous refreshes of one token exactly one rotates, and the others
//     see g = generation−1: each gets the same successor (it depends only on
//     the session, g+1, S and the current key) if the replay rule below lets
//     it, or ends the session; none forks it.
//  6. Every ancestor is detected, forever. A genuine token older than the
//     previous generation, or the previous one when the replay rule refuses
//     it, ends the session (REFRESH_TOKEN_REUSED). Generations only grow and
//     every token carries its own, so no retired-token rows exist that a
//     purge could drop too early.
//  7. The replay rule. The previous generation yields the current token
//     again only within the grace window, only to the client that rotated
//     (same user agent, same address prefix: IPv4 /24, IPv6 /64; see
//     auth.ReplayClient) and only a few times per rotation (counted on the
//     row). A thief replaying the retired token right after each legitimate
//     rotation is a different client, so the first attempt ends the session.
//  8. Keys rotate without ending sessions. The key id selects the key that
//     checks a; any accepted key's token refreshes into one minted with the
//     current key.
//
// # Tokens of format 1 (legacy)
//
// Before format 2 a token was 32 random bytes (43 characters); the row held
// HMAC-SHA-256(HKDF(secret), token) and retired ones sat in
// auth.retired_refresh_tokens. Such a token is looked up by its hash under
// every candidate secret (LegacyHashes); the session's current format-1 token
// stands for generation 0, a retired one for an older generation, so its
// rotation turns the session to format 2 and its reuse still ends it.
package refreshtoken

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Sizes of a token's parts, in bytes.
const (
	// SecretSize is the size of a session's token secret S.
	SecretSize = 32
	// ProofSize is the size of b = SHA-256(S || g).
	ProofSize = sha256.Size
	// MinKeySize is the shortest server refresh key accepted.
	MinKeySize = 32

	version       = 2
	keyIDSize     = 4
	sessionIDSize = 16
	macSize       = 16
	bodySize      = 1 + keyIDSize + sessionIDSize + 8 + ProofSize
	tokenSize     = bodySize + macSize
	legacySize    = 32
)

var (
	encodedLen       = base64.RawURLEncoding.EncodedLen(tokenSize)
	legacyEncodedLen = base64.RawURLEncoding.EncodedLen(legacySize)
)

// Kind says what a presented string is.
type Kind int

// The kinds Parse tells apart.
const (
	// Invalid: not a token, or a format-2 token that no accepted key made.
	Invalid Kind = iota
	// Current: a format-2 token whose MAC an accepted key verified.
	Current
	// Legacy: something shaped like a format-1 token (43 base64url
	// characters); only the database can tell whether it is one.
	Legacy
)

// Token is what a verified format-2 token says.
type Token struct {
	SessionID  string // canonical UUID text
	Generation int64
	// Proof is b = SHA-256(S || Generation), for the database to check.
	Proof []byte
}

// Keys are the server's refresh keys: the current one mints and verifies,
// previous ones only verify, and the legacy hash keys recognise format-1
// tokens.
type Keys struct {
	current macKey
	byID    map[[keyIDSize]byte]macKey
	legacy  [][]byte
}

type macKey struct {
	id  [keyIDSize]byte
	mac []byte
}

// NewKeys builds the key set from the current secret, the previous ones (each
// at least MinKeySize bytes) and the secrets format-1 tokens were hashed with
// (legacy, any length; the empty ones are skipped). It fails when a secret
// is too short or two different secrets get the same key id.
func NewKeys(current []byte, previous, legacy [][]byte) (*Keys, error) {
	cur, err := deriveKey(current)
	if err != nil {
		return nil, err
	}
	k := &Keys{current: cur, byID: map[[keyIDSize]byte]macKey{cur.id: cur}}
	for i, p := range previous {
		pk, err := deriveKey(p)
		if err != nil {
			return nil, fmt.Errorf("previous secret %d: %w", i+1, err)
		}
		if have, ok := k.byID[pk.id]; ok {
			if !hmac.Equal(have.mac, pk.mac) {
				return nil, fmt.Errorf("previous secret %d: its key id collides with another secret's; use another secret", i+1)
			}
			continue // listed twice: the same key
		}
		k.byID[pk.id] = pk
	}
	seen := map[string]bool{}
	for _, secret := range legacy {
		if len(secret) == 0 {
			continue
		}
		h, err := hkdf.Key(sha256.New, secret, nil, "authgate refresh-token hash v1", 32)
		if err != nil {
			return nil, err
		}
		if !seen[string(h)] {
			seen[string(h)] = true
			k.legacy = append(k.legacy, h)
		}
	}
	return k, nil
}

func deriveKey(secret []byte) (macKey, error) {
	if len(secret) < MinKeySize {
		return macKey{}, fmt.Errorf("a refresh token secret must be at least %d bytes, got %d", MinKeySize, len(secret))
	}
	mac, err := hkdf.Key(sha256.New, secret, nil, "authgate refresh-token mac v2", 32)
	if err != nil {
		return macKey{}, err
	}
	id, err := hkdf.Key(sha256.New, secret, nil, "authgate refresh-token key id v2", keyIDSize)
	if err != nil {
		return macKey{}, err
	}
	return macKey{id: [keyIDSize]byte(id), mac: mac}, nil
}

// NewSecret reads a session's token secret S from random; it fails only
// when random does.
func NewSecret(random io.Reader) ([]byte, error) {
	s := make([]byte, SecretSize)
	if _, err := io.ReadFull(random, s); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	return s, nil
}

// Proof is b = SHA-256(secret || generation as 8 big-endian bytes), the
// part of a token only the session row can make. The database computes the
// same with sha256(token_secret || int8send(generation)).
func Proof(secret []byte, generation int64) []byte {
	h := sha256.New()
	h.Write(secret)
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(generation)))
	return h.Sum(nil)
}

// Mint returns the token of a session's generation under the current key,
// from the proof the session row made. It fails only on a malformed session
// id, generation or proof (a bug, never client input).
func (k *Keys) Mint(sessionID string, generation int64, proof []byte) (string, error) {
	id, ok := parseUUID(sessionID)
	if !ok || generation < 0 || len(proof) != ProofSize {
		return "", errors.New("refreshtoken: minting needs a session UUID, a generation ≥ 0 and a 32-byte proof")
	}
	b := make([]byte, 0, tokenSize)
	b = append(b, version)
	b = append(b, k.current.id[:]...)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(generation))
	b = append(b, proof...)
	b = append(b, mac(k.current.mac, b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Parse tells a format-2 token made with an accepted key (Current, with what
// it says), a string shaped like a format-1 token (Legacy) and anything else
// (Invalid) apart. It touches no database: a forged MAC ends here.
func (k *Keys) Parse(token string) (Token, Kind) {
	switch len(token) {
	case legacyEncodedLen:
		if _, err := base64.RawURLEncoding.Strict().DecodeString(token); err == nil {
			return Token{}, Legacy
		}
		return Token{}, Invalid
	case encodedLen:
	default:
		return Token{}, Invalid
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != tokenSize || b[0] != version {
		return Token{}, Invalid
	}
	key, ok := k.byID[[keyIDSize]byte(b[1:5])]
	if !ok || !hmac.Equal(mac(key.mac, b[:bodySize]), b[bodySize:]) {
		return Token{}, Invalid
	}
	g := binary.BigEndian.Uint64(b[21:29])
	if g >= math.MaxInt64 {
		return Token{}, Invalid // never minted: generations count rotations
	}
	return Token{SessionID: formatUUID(b[5:21]), Generation: int64(g), Proof: b[29:bodySize]}, Current
}

// Follows reports whether next is the successor of token: both format-2
// tokens that k accepts, of one session, next one generation on and made
// with the current key. A successor depends on nothing else but the
// session's secret, so two answers that both follow one token are the same
// token: no fork.
func (k *Keys) Follows(token, next string) bool {
	a, ka := k.Parse(token)
	b, kb := k.Parse(next)
	if ka != Current || kb != Current || a.SessionID != b.SessionID || b.Generation != a.Generation+1 {
		return false
	}
	minted, err := k.Mint(b.SessionID, b.Generation, b.Proof)
	return err == nil && minted == next
}

// LegacyHashes returns what a format-1 token's row would hold under each
// candidate legacy secret, for one lookup with = ANY.
func (k *Keys) LegacyHashes(token string) [][]byte {
	out := make([][]byte, len(k.legacy))
	for i, key := range k.legacy {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(token))
		out[i] = m.Sum(nil)
	}
	return out
}

func mac(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)[:macSize]
}

func parseUUID(s string) ([sessionIDSize]byte, bool) {
	var out [sessionIDSize]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return out, false
	}
	raw := strings.ReplaceAll(s, "-", "")
	if _, err := hex.Decode(out[:], []byte(raw)); err != nil || len(raw) != 2*sessionIDSize {
		return out, false
	}
	return out, true
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
