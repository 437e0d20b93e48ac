package token

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"authgate/internal/clock"
)

func TestHasuraJWTSecret(t *testing.T) {
	ed := edKeyFromSeed(t, 1)
	tests := []struct {
		name        string
		secret      string
		privateKeys string
		baseURL     string
		want        string
	}{
		{
			name:        "private keys alone point Hasura at the JWKS",
			privateKeys: ed,
			baseURL:     "https://auth.example.com",
			want:        `{"jwk_url":"https://auth.example.com/.well-known/jwks.json","allowed_skew":5}`,
		},
		{
			name:        "a trailing slash and a path prefix are kept tidy",
			privateKeys: ed,
			baseURL:     "https://example.com/auth/",
			want:        `{"jwk_url":"https://example.com/auth/.well-known/jwks.json","allowed_skew":5}`,
		},
		{
			name:        "the public key form becomes the jwk_url form with its settings",
			secret:      `{"type":"Ed25519","key":` + quote(publicPEM(t, ed)) + `,"claims_namespace_path":"$.hasura","claims_format":"stringified_json","issuer":"https://auth.example.com","audience":["hasura", "reports"],"allowed_skew":0}`,
			privateKeys: ed,
			baseURL:     "http://localhost:8080",
			want:        `{"jwk_url":"http://localhost:8080/.well-known/jwks.json","claims_namespace_path":"$.hasura","claims_format":"stringified_json","issuer":"https://auth.example.com","audience":["hasura","reports"],"allowed_skew":0}`,
		},
		{
			name:    "an HMAC secret is printed with its type, ignoring the base URL",
			secret:  `{"type":"HS384","key":"` + testSecret + `","claims_namespace":"https://x.io/c?a=1&b=<2>","audience":"hasura","allowed_skew":5,"header":{"type": "Cookie","name":"jwt"}}`,
			baseURL: "not a url",
			want:    `{"type":"HS384","key":"` + testSecret + `","claims_namespace":"https://x.io/c?a=1&b=<2>","audience":"hasura","allowed_skew":5,"header":{"type":"Cookie","name":"jwt"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustConfig(t, tt.secret, tt.privateKeys)
			got, err := cfg.HasuraJWTSecret(tt.baseURL)
			if err != nil {
				t.Fatalf("HasuraJWTSecret: %v", err)
			}
			if got != tt.want {
				t.Fatalf("HasuraJWTSecret =\n%s\nwant\n%s", got, tt.want)
			}

			// What authgate prints must read back as the same configuration.
			again := mustConfig(t, got, tt.privateKeys)
			wantSkew := cfg.skew
			if cfg.hasura.allowedSkew == nil {
				wantSkew = RecommendedAllowedSkew // see TestHasuraConfigAllowsForClockSkew
			}
			if !reflect.DeepEqual(again.layout, cfg.layout) || again.issuer != cfg.issuer ||
				!reflect.DeepEqual(again.audience, cfg.audience) || again.skew != wantSkew || again.Algorithm() != cfg.Algorithm() {
				t.Errorf("printed secret parses to a different Config: %+v vs %+v", again, cfg)
			}
			clk := clock.NewFake(startTime())
			tok, err := newTestIssuer(cfg, clk).Issue(sampleClaims())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := newTestIssuer(again, clk).Verify(tok.Value); err != nil {
				t.Errorf("a token verifies under the original but not under the printed secret: %v", err)
			}
		})
	}
}

func TestHasuraJWTSecretRefusesBadBaseURL(t *testing.T) {
	cfg := mustConfig(t, "", edKeyFromSeed(t, 1))
	for _, base := range []string{"", "auth.example.com", "ftp://auth.example.com", "https://", "https://a.example/?x=1", "https://a.example/#f", "https://user:pw@a.example"} {
		t.Run(base, func(t *testing.T) {
			got, err := cfg.HasuraJWTSecret(base)
			if err == nil || !strings.Contains(err.Error(), "public base URL") {
				t.Fatalf("HasuraJWTSecret(%q) = %s, %v; want a base URL error", base, got, err)
			}
		})
	}
}

// TestHasuraConfigAllowsForClockSkew (issue 12.10): Hasura checks iat
// against its own clock with allowed_skew as the only leeway, 0 when unset
// (Server/Auth/JWT.hs, verifyJwt: Jose.defaultJWTValidationSettings, whose
// allowedSkew is 0, and jose refuses an iat in the future). So a Hasura whose
// clock is a second behind would refuse a token authgate just made. authgate
// does not backdate iat (the revocation cut-offs compare iat with the
// instant of a password change or sign-out, and a token made in that same
// second would die); hasura-config prints an allowed_skew instead, unless
// the config sets one.
func TestHasuraConfigAllowsForClockSkew(t *testing.T) {
	cfg := mustConfig(t, `{"type":"HS256","key":"`+testSecret+`"}`, "")
	printed, err := cfg.HasuraJWTSecret("")
	if err != nil {
		t.Fatal(err)
	}
	now := startTime().Add(500 * time.Millisecond)
	tok, err := newTestIssuer(cfg, clock.NewFake(now)).Issue(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	// Hasura, with what hasura-config printed, a second behind.
	hasura := newTestIssuer(mustConfig(t, printed, ""), clock.NewFake(now.Add(-time.Second)))
	if _, err := hasura.Verify(tok.Value); err != nil {
		t.Fatalf("a Hasura a second behind, configured with %s, refuses a fresh token: %v", printed, err)
	}
	// An allowed_skew the operator chose is printed as it is, 0 too.
	for _, skew := range []string{"0", "30"} {
		out, err := mustConfig(t, `{"type":"HS256","key":"`+testSecret+`","allowed_skew":`+skew+`}`, "").HasuraJWTSecret("")
		if err != nil || !strings.Contains(out, `"allowed_skew":`+skew+`}`) {
			t.Errorf("allowed_skew %s printed as %s (%v)", skew, out, err)
		}
	}
}
