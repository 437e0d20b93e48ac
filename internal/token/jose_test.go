package token

import (
	"crypto"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"authgate/internal/clock"
)

// TestTokensVerifyWithGoJose checks authgate's tokens and JWKS with a second,
// independent JOSE implementation, as Hasura will.
func TestTokensVerifyWithGoJose(t *testing.T) {
	keys := newTestKeys(t)
	for _, typ := range allTypes() {
		t.Run(typ, func(t *testing.T) {
			cfg := configFor(t, keys, typ, map[string]any{"issuer": fixtureIssuer, "audience": []string{"hasura", "reports"}})
			clk := clock.NewFake(startTime())
			tok, err := newTestIssuer(cfg, clk).Issue(sampleClaims())
			if err != nil {
				t.Fatal(err)
			}

			parsed, err := josejwt.ParseSigned(tok.Value, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(cfg.Algorithm())})
			if err != nil {
				t.Fatalf("go-jose ParseSigned: %v", err)
			}
			kid := parsed.Headers[0].KeyID
			var verifyKey any
			if cfg.Symmetric() {
				verifyKey = []byte(testSecret)
				if want := octThumbprint([]byte(testSecret)); kid != want {
					t.Errorf("HMAC kid = %s; want the RFC 7638 thumbprint %s", kid, want)
				}
			} else {
				var set jose.JSONWebKeySet
				if err := json.Unmarshal(cfg.JWKS(), &set); err != nil {
					t.Fatalf("go-jose reading JWKS: %v", err)
				}
				found := set.Key(kid)
				if len(found) != 1 {
					t.Fatalf("JWKS has %d keys with kid %s; want 1", len(found), kid)
				}
				jwk := found[0]
				if !jwk.Valid() || !jwk.IsPublic() || jwk.Use != "sig" || jwk.Algorithm != cfg.Algorithm() {
					t.Errorf("JWK valid %v public %v use %q alg %q; want a valid public sig key for %s",
						jwk.Valid(), jwk.IsPublic(), jwk.Use, jwk.Algorithm, cfg.Algorithm())
				}
				thumb, err := jwk.Thumbprint(crypto.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				if b64(thumb) != kid {
					t.Errorf("kid %s is not go-jose's thumbprint %s", kid, b64(thumb))
				}
				verifyKey = jwk.Key
			}

			var std josejwt.Claims
			var all map[string]any
			if err := parsed.Claims(verifyKey, &std, &all); err != nil {
				t.Fatalf("go-jose signature check: %v", err)
			}
			expected := josejwt.Expected{
				Issuer:      fixtureIssuer,
				AnyAudience: josejwt.Audience{"hasura"},
				Subject:     sampleClaims().UserID,
				ID:          tok.ID,
				Time:        clk.Now(),
			}
			if err := std.ValidateWithLeeway(expected, 0); err != nil {
				t.Errorf("go-jose claim check: %v", err)
			}
			if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: "https://other.example", Time: clk.Now()}, 0); err == nil {
				t.Error("go-jose accepted a different issuer; the check above proves nothing")
			}
			if err := std.ValidateWithLeeway(josejwt.Expected{AnyAudience: josejwt.Audience{"billing"}, Time: clk.Now()}, 0); err == nil {
				t.Error("go-jose accepted a different audience; the check above proves nothing")
			}
			namespace, _ := all[defaultNamespace].(map[string]any)
			if namespace["x-hasura-user-id"] != sampleClaims().UserID || namespace["x-hasura-default-role"] != "user" {
				t.Errorf("go-jose read namespace %v", namespace)
			}
		})
	}
}
