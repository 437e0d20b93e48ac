package onetime_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"authgate/internal/onetime"
)

var secret = []byte("test-one-time-secret-0123456789abcdef")

func TestTokensAreFreshWellFormedAndHashedPerKey(t *testing.T) {
	a, err := onetime.NewToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := onetime.NewToken(rand.Reader)
	if a == b || len(a) != onetime.TokenLength || !onetime.WellFormed(a) {
		t.Fatalf("tokens %q, %q", a, b)
	}
	for _, bad := range []string{"", a[:42], a + "A", strings.Repeat("+", 43), a[:42] + "="} {
		if onetime.WellFormed(bad) {
			t.Errorf("%q is well formed", bad)
		}
	}
	k, err := onetime.NewKeys(secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k.TokenHash(a), k.TokenHash(b)) || !bytes.Equal(k.TokenHash(a), k.TokenHash(a)) {
		t.Error("token hashes are not a function of the token")
	}
	other, _ := onetime.NewKeys([]byte("another-secret-0123456789abcdef-0123"))
	if bytes.Equal(k.TokenHash(a), other.TokenHash(a)) {
		t.Error("the hash does not depend on the key")
	}
	rotated, _ := onetime.NewKeys([]byte("another-secret-0123456789abcdef-0123"), secret)
	if hs := rotated.TokenHashes(a); len(hs) != 2 || !bytes.Equal(hs[1], k.TokenHash(a)) {
		t.Error("a rotated key set does not find tokens hashed under the previous secret")
	}
	if _, err := onetime.NewKeys([]byte("short")); err == nil {
		t.Error("a short secret was accepted")
	}
}

func TestCodesAreSixDigitsAndBoundToPurposeAndAddress(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := onetime.NewCode(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !onetime.WellFormedCode(c) {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Errorf("only %d distinct codes in 200", len(seen))
	}
	// A reader that first yields values in the rejected tail: no bias.
	tail := bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0x30, 0x39})
	if c, err := onetime.NewCode(tail); err != nil || c != "012345" {
		t.Errorf("code from the tail then 12345: %q, %v", c, err)
	}
	for _, bad := range []string{"", "12345", "1234567", "12345a", "１２３４５６"} {
		if onetime.WellFormedCode(bad) {
			t.Errorf("%q is a well-formed code", bad)
		}
	}
	k, _ := onetime.NewKeys(secret)
	h := k.CodeHash(onetime.SignIn, "a@example.com", "123456")
	if bytes.Equal(h, k.CodeHash(onetime.SignIn, "b@example.com", "123456")) ||
		bytes.Equal(h, k.CodeHash(onetime.Verify, "a@example.com", "123456")) {
		t.Error("a code hash is not bound to its address and purpose")
	}
}

func TestPurposes(t *testing.T) {
	for _, p := range onetime.Purposes {
		if !p.Valid() {
			t.Errorf("%s is not valid", p)
		}
	}
	if onetime.Purpose("other").Valid() {
		t.Error("an unknown purpose is valid")
	}
	if !onetime.Reset.Exclusive() || onetime.MFATicket.Exclusive() || onetime.AuthCode.Exclusive() {
		t.Error("exclusivity")
	}
}
