package token

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"authgate/internal/clock"
)

// FuzzVerify feeds Verify arbitrary text: it must never panic, every refusal
// must wrap ErrInvalidToken, and whatever it accepts must verify again to the
// same claims and hold what authgate always writes.
func FuzzVerify(f *testing.F) {
	clk := clock.NewFake(startTime())
	hs := NewIssuer(mustConfig(f, `{"type":"HS256","key":"`+testSecret+`"}`, ""), clk, &countingReader{}, testTTL)
	ed := NewIssuer(mustConfig(f, `{"jwk_url":"https://a.example/jwks","claims_namespace_path":"$.hasura['claims']","claims_format":"stringified_json","issuer":"https://auth.example.com","audience":["hasura"],"allowed_skew":30}`,
		edKeyFromSeed(f, 1)), clk, &countingReader{}, testTTL)
	issuers := []*Issuer{hs, ed}

	for _, issuer := range issuers {
		for _, c := range []Claims{sampleClaims(), {UserID: "u", SessionID: "s", DefaultRole: "r"}} {
			tok, err := issuer.Issue(c)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(tok.Value)
			parts := strings.Split(tok.Value, ".")
			f.Add(parts[0] + "." + parts[1] + ".")
			f.Add(`eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.` + parts[1] + ".")
			f.Add(tok.Value + "==")
		}
	}
	for _, seed := range []string{
		"", ".", "..", "a.b.c", "e30.e30.e30", "bnVsbA.bnVsbA.", "W10.W10.W10",
		"dGhpcyBpcyBub3QgYSB0b2tlbiwganVzdCA0MyBjaGFy", // 43 characters of base64url, like a refresh token
		"\xff\xfe\xfd.\x00.\x80",
		strings.Repeat("A", MaxTokenBytes+1),
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, raw string) {
		for _, issuer := range issuers {
			v, err := issuer.Verify(raw)
			if err != nil {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("Verify error %v does not wrap ErrInvalidToken", err)
				}
				continue
			}
			again, err := issuer.Verify(raw)
			if err != nil || !reflect.DeepEqual(v, again) {
				t.Fatalf("accepted once as %+v, then %+v, %v", v, again, err)
			}
			if v.UserID == "" || v.SessionID == "" || v.ID == "" || !slices.Contains(v.AllowedRoles, v.DefaultRole) ||
				!v.ExpiresAt.After(clk.Now().Add(-issuer.cfg.skew)) || len(raw) > MaxTokenBytes {
				t.Fatalf("accepted a token lacking what authgate writes: %+v", v)
			}
		}
	})
}
