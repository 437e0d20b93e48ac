package token

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"authgate/internal/clock"
)

// TestKeyRotation walks a key through its life: k2 is published before it
// signs, so that Hasura's cached JWKS knows it, and k1 stays published until
// its last token has expired.
func TestKeyRotation(t *testing.T) {
	k1, k2 := edKeyFromSeed(t, 1), edKeyFromSeed(t, 2)
	clk := clock.NewFake(startTime())
	stage := func(privateKeys string) (*Config, *Issuer) {
		cfg := mustConfig(t, `{"jwk_url":"https://auth.example.com/.well-known/jwks.json"}`, privateKeys)
		return cfg, newTestIssuer(cfg, clk)
	}
	issue := func(issuer *Issuer) Token {
		t.Helper()
		tok, err := issuer.Issue(sampleClaims())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	mustVerify := func(stageName string, issuer *Issuer, tokens ...Token) {
		t.Helper()
		for n, tok := range tokens {
			if _, err := issuer.Verify(tok.Value); err != nil {
				t.Errorf("%s: token %d refused: %v", stageName, n+1, err)
			}
		}
	}
	kidOf := func(tok Token) string {
		header, _, _ := segments(t, tok.Value)
		return header["kid"].(string)
	}

	cfgA, a := stage(k1)
	kid1 := cfgA.keys[0].id
	tokA := issue(a)
	if kidOf(tokA) != kid1 || !slices.Equal(jwksKids(t, cfgA), []string{kid1}) {
		t.Fatalf("stage A: token kid %s, JWKS %v", kidOf(tokA), jwksKids(t, cfgA))
	}

	clk.Advance(5 * time.Minute)
	cfgB, b := stage(k1 + k2)
	kid2 := cfgB.keys[1].id
	tokB := issue(b)
	if kidOf(tokB) != kid1 {
		t.Errorf("stage B: k1 should still sign, got kid %s", kidOf(tokB))
	}
	if !slices.Equal(jwksKids(t, cfgB), []string{kid1, kid2}) {
		t.Errorf("stage B: JWKS %v; want k1 and k2", jwksKids(t, cfgB))
	}
	mustVerify("stage B", b, tokA, tokB)

	clk.Advance(5 * time.Minute)
	cfgC, c := stage(k2 + k1)
	tokC := issue(c)
	if kidOf(tokC) != kid2 {
		t.Errorf("stage C: k2 should sign, got kid %s", kidOf(tokC))
	}
	mustVerify("stage C", c, tokA, tokB, tokC)
	mustVerify("stage B verifying a k2 token", b, tokC)
	if !slices.Equal(jwksKids(t, cfgC), []string{kid2, kid1}) {
		t.Errorf("stage C: JWKS %v; want k2 then k1", jwksKids(t, cfgC))
	}

	// k1 may go once the longest-lived k1 token (tokB) has expired.
	clk.Set(tokB.ExpiresAt.Add(cfgC.AllowedSkew()))
	cfgD, d := stage(k2)
	if !slices.Equal(jwksKids(t, cfgD), []string{kid2}) {
		t.Errorf("stage D: JWKS %v; want only k2", jwksKids(t, cfgD))
	}
	tokD := issue(d)
	mustVerify("stage D", d, tokC, tokD)
	for _, tok := range []Token{tokA, tokB} {
		if _, err := d.Verify(tok.Value); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("stage D accepted an old k1 token: %v", err)
		}
	}
	// A k1 token still inside its TTL is refused for its key, not its age.
	lateK1 := issue(b)
	if _, err := d.Verify(lateK1.Value); !errors.Is(err, errUnknownKey) || errors.Is(err, ErrExpired) {
		t.Errorf("stage D verifying a fresh k1 token: %v; want unknown kid", err)
	}
}

func jwksKids(t *testing.T, cfg *Config) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(cfg.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}
