package sealbox_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"authgate/internal/sealbox"
)

var (
	secretA = []byte("secret-a-0123456789abcdef0123456789abcdef")
	secretB = []byte("secret-b-0123456789abcdef0123456789abcdef")
	secretC = []byte("secret-c-0123456789abcdef0123456789abcdef")
)

func mustBox(t *testing.T, purpose string, secret []byte, previous ...[]byte) *sealbox.Box {
	t.Helper()
	b, err := sealbox.New(purpose, secret, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealThenOpenGivesThePlaintextAndHidesIt(t *testing.T) {
	box := mustBox(t, "mail", secretA)
	plain := []byte(`{"link":"https://app.example.com/?type=reset&token=SECRET-TOKEN"}`)
	sealed := box.Seal(plain)
	if bytes.Contains(sealed, []byte("SECRET-TOKEN")) || bytes.Contains(sealed, plain[:10]) {
		t.Fatalf("the sealed payload shows its plaintext: %q", sealed)
	}
	got, err := box.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, want %q", got, plain)
	}
	if again := box.Seal(plain); bytes.Equal(again, sealed) {
		t.Fatal("sealing twice gave the same bytes: the nonce is not fresh")
	}
}

func TestOpenRefuses(t *testing.T) {
	box := mustBox(t, "mail", secretA)
	sealed := box.Seal([]byte("the reset link"))
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 1
		return c
	}
	cases := []struct {
		name   string
		box    *sealbox.Box
		sealed []byte
	}{
		{"a changed ciphertext byte", box, flip(len(sealed) - 20)},
		{"a changed tag byte", box, flip(len(sealed) - 1)},
		{"a changed nonce byte", box, flip(6)},
		{"a changed key id", box, flip(2)},
		{"an unknown version", box, flip(0)},
		{"a cut payload", box, sealed[:10]},
		{"nothing", box, nil},
		{"another purpose under the same secret", mustBox(t, "webhook", secretA), sealed},
		{"another secret", mustBox(t, "mail", secretB), sealed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.box.Open(c.sealed)
			if !errors.Is(err, sealbox.ErrCannotOpen) || got != nil {
				t.Fatalf("Open = %q, %v; want ErrCannotOpen", got, err)
			}
		})
	}
}

func TestRotationOpensWhatPreviousSecretsSealed(t *testing.T) {
	old := mustBox(t, "mail", secretA)
	sealedOld := old.Seal([]byte("sealed before the rotation"))

	rotated := mustBox(t, "mail", secretB, secretA)
	got, err := rotated.Open(sealedOld)
	if err != nil || string(got) != "sealed before the rotation" {
		t.Fatalf("the rotated box opens the old payload as %q, %v", got, err)
	}
	sealedNew := rotated.Seal([]byte("sealed after"))
	if _, err := old.Open(sealedNew); !errors.Is(err, sealbox.ErrCannotOpen) {
		t.Fatalf("the old box opened a payload sealed under the new secret: %v", err)
	}
	if got, err := mustBox(t, "mail", secretB).Open(sealedNew); err != nil || string(got) != "sealed after" {
		t.Fatalf("new payloads are not sealed under the current secret: %q, %v", got, err)
	}
	// Once the old secret is dropped from the list, its payloads are dead.
	if _, err := mustBox(t, "mail", secretB, secretC).Open(sealedOld); !errors.Is(err, sealbox.ErrCannotOpen) {
		t.Fatalf("a payload of a dropped secret opened: %v", err)
	}
}

func TestNewRefusesWeakSetup(t *testing.T) {
	cases := []struct {
		name     string
		purpose  string
		secret   []byte
		previous [][]byte
		want     string
	}{
		{"a short secret", "mail", secretA[:31], nil, "at least 32 bytes, got 31"},
		{"a short previous secret", "mail", secretA, [][]byte{secretB, []byte("short")}, "previous secret 2"},
		{"no purpose", "", secretA, nil, "purpose"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := sealbox.New(c.purpose, c.secret, c.previous...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func BenchmarkSealOpen(b *testing.B) {
	box, err := sealbox.New("mail", secretA)
	if err != nil {
		b.Fatal(err)
	}
	plain := bytes.Repeat([]byte("x"), 400) // about one outbox mail
	b.ReportAllocs()
	for b.Loop() {
		if _, err := box.Open(box.Seal(plain)); err != nil {
			b.Fatal(err)
		}
	}
}
