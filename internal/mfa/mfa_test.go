package mfa_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"image/png"
	"strings"
	"testing"
	"time"

	"authgate/internal/mfa"
)

func TestTOTPMatchesItsStepAndOneStepEitherWay(t *testing.T) {
	e, err := mfa.NewTOTP(rand.Reader, "Acme", "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URL, "otpauth://totp/Acme:a@example.com?") || !strings.Contains(e.URL, "secret="+e.Secret) {
		t.Fatalf("otpauth URL %q", e.URL)
	}
	img, err := png.Decode(bytes.NewReader(e.QRCodePNG))
	if err != nil || img.Bounds().Dx() != 256 {
		t.Fatalf("QR code: %v", err)
	}
	if raw, err := base64.StdEncoding.DecodeString(e.QRCodeBase64()); err != nil || !bytes.Equal(raw, e.QRCodePNG) {
		t.Fatal("QRCodeBase64 is not the PNG in base64")
	}
	now := time.Unix(1_700_000_015, 0)
	step := mfa.TOTPStep(now)
	for _, c := range []struct {
		name   string
		offset int64
		ok     bool
	}{
		{"current step", 0, true},
		{"previous step", -1, true},
		{"next step", 1, true},
		{"two steps back", -2, false},
		{"two steps ahead", 2, false},
	} {
		code, err := mfa.TOTPCode(e.Secret, step+c.offset)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := mfa.MatchTOTP(e.Secret, code[:3]+" "+code[3:], now)
		if err != nil || ok != c.ok || (ok && got != step+c.offset) {
			t.Errorf("%s: step %d ok %v err %v", c.name, got, ok, err)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef", "12345x"} {
		if _, ok, err := mfa.MatchTOTP(e.Secret, bad, now); ok || err != mfa.ErrMalformedCode {
			t.Errorf("%q: ok %v err %v", bad, ok, err)
		}
	}
}

func TestTOTPSecretsOpenOnlyForTheirUserAndKey(t *testing.T) {
	keys, err := mfa.NewKeys([]byte("k1-0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	sealed := keys.SealTOTPSecret("user-a", "SECRET")
	if bytes.Contains(sealed, []byte("SECRET")) {
		t.Fatal("sealed secret is readable")
	}
	if s, err := keys.OpenTOTPSecret("user-a", sealed); err != nil || s != "SECRET" {
		t.Fatalf("open: %q %v", s, err)
	}
	if _, err := keys.OpenTOTPSecret("user-b", sealed); err != mfa.ErrCannotOpen {
		t.Fatalf("another user's secret opened: %v", err)
	}
	other, _ := mfa.NewKeys([]byte("k2-0123456789abcdef0123456789abcdef"))
	if _, err := other.OpenTOTPSecret("user-a", sealed); err != mfa.ErrCannotOpen {
		t.Fatal("opened under another key")
	}
	// During a rotation the previous key still opens and matches.
	rotated, _ := mfa.NewKeys([]byte("k2-0123456789abcdef0123456789abcdef"), []byte("k1-0123456789abcdef0123456789abcdef"))
	if s, err := rotated.OpenTOTPSecret("user-a", sealed); err != nil || s != "SECRET" {
		t.Fatalf("rotation: %q %v", s, err)
	}
	old := keys.RecoveryCodeHash("user-a", "abcdefghij")
	found := false
	for _, h := range rotated.RecoveryCodeHashes("user-a", "abcdefghij") {
		found = found || bytes.Equal(h, old)
	}
	if !found {
		t.Fatal("a recovery code hashed under the previous key no longer matches")
	}
	if bytes.Equal(keys.RecoveryCodeHash("user-b", "abcdefghij"), old) {
		t.Fatal("one code hashes alike for two users")
	}
	if _, err := mfa.NewKeys([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
}

func TestRecoveryCodesAreDistinctAndReadLoosely(t *testing.T) {
	codes, err := mfa.NewRecoveryCodes(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' || seen[c] {
			t.Fatalf("code %q in %v", c, codes)
		}
		seen[c] = true
		n, ok := mfa.NormalizeRecoveryCode(" " + strings.ToUpper(c) + " ")
		if !ok || n != strings.ReplaceAll(c, "-", "") {
			t.Fatalf("%q normalises to %q %v", c, n, ok)
		}
	}
	for _, bad := range []string{"", "abcde", "abcde-fghij-k", "abcde-fgh1j", "abcde-fghïj"} {
		if _, ok := mfa.NormalizeRecoveryCode(bad); ok {
			t.Errorf("%q read as a recovery code", bad)
		}
	}
}

func TestPasskeyRelyingPartyChecksItsSettings(t *testing.T) {
	if _, err := mfa.NewPasskeys(mfa.PasskeyConfig{RPID: "example.com", RPName: "Acme"}); err == nil {
		t.Fatal("no origins accepted")
	}
	p, err := mfa.NewPasskeys(mfa.PasskeyConfig{RPID: "example.com", RPName: "Acme", Origins: []string{"https://app.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.BeginRegistration(mfa.PasskeyUser{Handle: bytes.Repeat([]byte{1}, 16), Name: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"residentKey":"required"`, `"userVerification":"required"`, `"id":"example.com"`} {
		if !strings.Contains(string(c.Options), want) {
			t.Errorf("creation options lack %s: %s", want, c.Options)
		}
	}
	if len(c.ChallengeHash) != 32 {
		t.Fatal("no challenge hash")
	}
	if _, err := mfa.ParseRegistration([]byte(`{"id":"x"}`)); err == nil {
		t.Fatal("a malformed credential parsed")
	}
}
