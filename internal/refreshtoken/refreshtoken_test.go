package refreshtoken_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"authgate/internal/refreshtoken"
)

const sessionID = "0b7e4b8e-5c9a-4f0e-9d2c-1a2b3c4d5e6f"

var (
	secretA = []byte("refresh-secret-A-0123456789abcdef")
	secretB = []byte("refresh-secret-B-0123456789abcdef")
	rowS    = bytes.Repeat([]byte{7}, refreshtoken.SecretSize)
)

func keys(t *testing.T, current []byte, previous ...[]byte) *refreshtoken.Keys {
	t.Helper()
	k, err := refreshtoken.NewKeys(current, previous, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mint(t *testing.T, k *refreshtoken.Keys, g int64) string {
	t.Helper()
	tok, err := k.Mint(sessionID, g, refreshtoken.Proof(rowS, g))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAMintedTokenParsesBackToWhatItSays(t *testing.T) {
	k := keys(t, secretA)
	tok := mint(t, k, 41)
	if len(tok) != 103 || strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q: want 103 base64url characters without padding", tok)
	}
	got, kind := k.Parse(tok)
	if kind != refreshtoken.Current || got.SessionID != sessionID || got.Generation != 41 ||
		!bytes.Equal(got.Proof, refreshtoken.Proof(rowS, 41)) {
		t.Fatalf("Parse = %+v, %v", got, kind)
	}
	if !k.Follows(tok, mint(t, k, 42)) || k.Follows(tok, mint(t, k, 43)) || k.Follows(mint(t, k, 42), tok) {
		t.Fatal("Follows does not tell the successor apart")
	}
}

// The proof is SHA-256 of the secret and the generation as 8 big-endian
// bytes: what the database computes as sha256(token_secret || int8send(g)).
func TestProofIsSHA256OfTheSecretAndTheGeneration(t *testing.T) {
	want := sha256.Sum256(append(append([]byte{}, rowS...), 0, 0, 0, 0, 0, 0, 1, 2))
	if got := refreshtoken.Proof(rowS, 258); !bytes.Equal(got, want[:]) {
		t.Fatalf("Proof = %x, want %x", got, want)
	}
}

// Every byte of a token is covered: changing any one of them (version, key
// id, session id, generation, proof or MAC) makes it no token at all.
func TestChangingAnyByteMakesItInvalid(t *testing.T) {
	k := keys(t, secretA)
	raw, err := base64.RawURLEncoding.DecodeString(mint(t, k, 3))
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		forged := bytes.Clone(raw)
		forged[i] ^= 0x01
		if _, kind := k.Parse(base64.RawURLEncoding.EncodeToString(forged)); kind != refreshtoken.Invalid {
			t.Errorf("byte %d changed: %v, want Invalid", i, kind)
		}
	}
}

// A token made with the right key from a guessed secret parses (the key
// made its MAC), but its proof is not the one the row makes: only the
// database can tell, and does (see auth's tests).
func TestTheKeyAloneMakesOnlyAProofOfAGuessedSecret(t *testing.T) {
	k := keys(t, secretA)
	guessed, err := k.Mint(sessionID, 0, refreshtoken.Proof(bytes.Repeat([]byte{8}, 32), 0))
	if err != nil {
		t.Fatal(err)
	}
	got, kind := k.Parse(guessed)
	if kind != refreshtoken.Current || bytes.Equal(got.Proof, refreshtoken.Proof(rowS, 0)) {
		t.Fatalf("Parse = %+v, %v", got, kind)
	}
}

func TestKeysRotate(t *testing.T) {
	old, rotated, dropped := keys(t, secretA), keys(t, secretB, secretA), keys(t, secretB)
	tok := mint(t, old, 5)
	if _, kind := rotated.Parse(tok); kind != refreshtoken.Current {
		t.Fatalf("a previous key's token: %v, want Current", kind)
	}
	if _, kind := dropped.Parse(tok); kind != refreshtoken.Invalid {
		t.Fatalf("a token of a key no longer listed: %v, want Invalid", kind)
	}
	// Successors are always made with the current key.
	next := mint(t, rotated, 6)
	if _, kind := old.Parse(next); kind != refreshtoken.Invalid {
		t.Fatal("the successor was made with the previous key")
	}
	if !rotated.Follows(tok, next) {
		t.Fatal("the current key's successor does not follow the previous key's token")
	}
	// The same secret listed twice is one key.
	if _, err := refreshtoken.NewKeys(secretA, [][]byte{secretA, secretB, secretB}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestShortSecretsAreRefused(t *testing.T) {
	if _, err := refreshtoken.NewKeys([]byte("short"), nil, nil); err == nil {
		t.Error("a short current secret was accepted")
	}
	if _, err := refreshtoken.NewKeys(secretA, [][]byte{[]byte("short")}, nil); err == nil || !strings.Contains(err.Error(), "previous secret 1") {
		t.Errorf("a short previous secret: %v", err)
	}
}

func TestNothingElseIsAToken(t *testing.T) {
	k := keys(t, secretA)
	tok := mint(t, k, 1)
	for name, s := range map[string]string{
		"empty":              "",
		"a JWT":              "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
		"cut short":          tok[:102],
		"one too many":       tok + "A",
		"padding":            tok[:100] + "==",
		"standard base64":    strings.NewReplacer("-", "+", "_", "/").Replace(strings.Repeat("-_", 52)[:103]),
		"a newline":          tok[:102] + "\n",
		"not base64, legacy": strings.Repeat("!", 43),
	} {
		if _, kind := k.Parse(s); kind != refreshtoken.Invalid {
			t.Errorf("%s: %v, want Invalid", name, kind)
		}
	}
	if _, kind := k.Parse(strings.Repeat("A", 43)); kind != refreshtoken.Legacy {
		t.Errorf("43 base64url characters: %v, want Legacy", kind)
	}
}

// A format-1 token's hash is HMAC-SHA-256 under HKDF(secret, "authgate
// refresh-token hash v1"), as the code before format 2 stored it; one hash
// per distinct candidate secret.
func TestLegacyHashesUnderEveryCandidateSecret(t *testing.T) {
	k, err := refreshtoken.NewKeys(secretB, nil, [][]byte{secretB, secretA, nil, secretA})
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.Repeat("x", 43)
	got := k.LegacyHashes(tok)
	if len(got) != 2 {
		t.Fatalf("%d hashes, want one per distinct secret (2)", len(got))
	}
	for i, secret := range [][]byte{secretB, secretA} {
		key, err := hkdf.Key(sha256.New, secret, nil, "authgate refresh-token hash v1", 32)
		if err != nil {
			t.Fatal(err)
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(tok))
		if !bytes.Equal(got[i], m.Sum(nil)) {
			t.Errorf("hash %d is not the format-1 hash under its secret", i)
		}
	}
}
