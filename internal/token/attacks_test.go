package token

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authgate/internal/clock"
)

// attackFixture holds issuers of every key family and the keys behind them,
// so that each attack can forge exactly one thing.
type attackFixture struct {
	clk                *clock.Fake
	edKey, rsaKey      crypto.Signer
	ecKey, strangerKey crypto.Signer
	ed, rsa, ec, hs    *Issuer
	mixed              *Issuer // Ed25519 signs, RSA is published too
	edPEM, rsaPEM      string
	ecPEM              string
}

const (
	fixtureIssuer   = "https://auth.example.com"
	fixtureAudience = "hasura"
	fixtureSkew     = 30 * time.Second
)

func newAttackFixture(t *testing.T) *attackFixture {
	t.Helper()
	f := &attackFixture{
		clk:    clock.NewFake(startTime()),
		edPEM:  edKeyFromSeed(t, 1),
		rsaPEM: generate(t, "RS256"),
		ecPEM:  generate(t, "ES256"),
	}
	f.edKey, f.rsaKey, f.ecKey = signerOf(t, f.edPEM), signerOf(t, f.rsaPEM), signerOf(t, f.ecPEM)
	f.strangerKey = signerOf(t, edKeyFromSeed(t, 2))
	edSecret := hasuraJSON(t, map[string]any{
		"type": "Ed25519", "jwk_url": "https://auth.example.com/.well-known/jwks.json",
		"issuer": fixtureIssuer, "audience": fixtureAudience, "allowed_skew": int(fixtureSkew / time.Second),
	})
	f.ed = newTestIssuer(mustConfig(t, edSecret, f.edPEM), f.clk)
	f.rsa = newTestIssuer(mustConfig(t, `{"type":"RS256","key":`+quote(publicPEM(t, f.rsaPEM))+`}`, f.rsaPEM), f.clk)
	f.ec = newTestIssuer(mustConfig(t, `{"type":"ES256","jwk_url":"https://a.example/jwks"}`, f.ecPEM), f.clk)
	f.hs = newTestIssuer(mustConfig(t, `{"type":"HS256","key":"`+testSecret+`"}`, ""), f.clk)
	f.mixed = newTestIssuer(mustConfig(t, "", f.edPEM+f.rsaPEM), f.clk)
	return f
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
}

// genuine returns the header and payload of a token the issuer really made.
func (f *attackFixture) genuine(t *testing.T, issuer *Issuer) (header, payload map[string]any) {
	t.Helper()
	tok, err := issuer.Issue(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	header, payload, _ = segments(t, tok.Value)
	return header, payload
}

// sign makes a compact token from any header and payload, signed by method
// with key.
func sign(t *testing.T, method jwt.SigningMethod, key any, header, payload map[string]any) string {
	t.Helper()
	signingInput := encodeSegment(t, header) + "." + encodeSegment(t, payload)
	sig, err := method.Sign(signingInput, key)
	if err != nil {
		t.Fatalf("signing the forged token: %v", err)
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// edToken is a token signed by the fixture's Ed25519 key after change edits
// the genuine header and payload.
func (f *attackFixture) edToken(t *testing.T, change func(header, payload map[string]any)) string {
	t.Helper()
	header, payload := f.genuine(t, f.ed)
	change(header, payload)
	return sign(t, jwt.SigningMethodEdDSA, f.edKey, header, payload)
}

func withClaim(name string, value any) func(header, payload map[string]any) {
	return func(_, payload map[string]any) { payload[name] = value }
}

func withoutClaim(name string) func(header, payload map[string]any) {
	return func(_, payload map[string]any) { delete(payload, name) }
}

func withHeader(name string, value any) func(header, payload map[string]any) {
	return func(header, _ map[string]any) { header[name] = value }
}

func withNamespaceMember(name string, value any) func(header, payload map[string]any) {
	return func(_, payload map[string]any) { payload[defaultNamespace].(map[string]any)[name] = value }
}

func pkixPublicKey(t *testing.T, s crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestVerifyRefusesAttacks(t *testing.T) {
	f := newAttackFixture(t)
	now := startTime().Unix()

	tests := []struct {
		name     string
		issuer   func(*attackFixture) *Issuer
		token    func(t *testing.T, f *attackFixture) string
		cause    error // a cause the error must wrap, proving which defence refused it
		notCause error // a cause it must not wrap
	}{
		// alg none
		{
			name:   "alg none is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.ed)
				header["alg"] = "none"
				return encodeSegment(t, header) + "." + encodeSegment(t, payload) + "."
			},
			cause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:   "alg None is refused",
			issuer: func(f *attackFixture) *Issuer { return f.hs },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.hs)
				header["alg"] = "None"
				return encodeSegment(t, header) + "." + encodeSegment(t, payload) + "."
			},
		},
		{
			name:   "alg NONE is refused",
			issuer: func(f *attackFixture) *Issuer { return f.rsa },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.rsa)
				header["alg"] = "NONE"
				return encodeSegment(t, header) + "." + encodeSegment(t, payload) + "."
			},
		},
		{
			name:   "alg none signed with the none method's own key is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.ed)
				header["alg"] = "none"
				return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, header, payload)
			},
			cause: jwt.ErrTokenSignatureInvalid,
		},

		// key confusion
		{
			name:   "HS256 signed with the RSA public key PEM as secret is refused",
			issuer: func(f *attackFixture) *Issuer { return f.rsa },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.rsa)
				header["alg"] = "HS256"
				return sign(t, jwt.SigningMethodHS256, []byte(publicPEM(t, f.rsaPEM)), header, payload)
			},
			cause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:   "HS256 signed with the RSA public key DER as secret is refused",
			issuer: func(f *attackFixture) *Issuer { return f.rsa },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.rsa)
				header["alg"] = "HS256"
				return sign(t, jwt.SigningMethodHS256, pkixPublicKey(t, f.rsaKey), header, payload)
			},
			cause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:   "HS256 signed with the EC public key PEM as secret is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ec },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.ec)
				header["alg"] = "HS256"
				return sign(t, jwt.SigningMethodHS256, []byte(publicPEM(t, f.ecPEM)), header, payload)
			},
			cause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:   "HS256 signed with the Ed25519 public key as secret is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.ed)
				header["alg"] = "HS256"
				return sign(t, jwt.SigningMethodHS256, []byte(publicPEM(t, f.edPEM)), header, payload)
			},
			cause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:   "alg of another published key is refused for this kid",
			issuer: func(f *attackFixture) *Issuer { return f.mixed },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.mixed)
				header["alg"] = "RS256"
				return sign(t, jwt.SigningMethodRS256, f.rsaKey, header, payload)
			},
			cause: errAlgorithm,
		},

		// wrong keys and edits
		{
			name:   "another key signing under our kid is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.ed)
				return sign(t, jwt.SigningMethodEdDSA, f.strangerKey, header, payload)
			},
			cause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:   "another HMAC secret is refused",
			issuer: func(f *attackFixture) *Issuer { return f.hs },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.hs)
				return sign(t, jwt.SigningMethodHS256, []byte(strings.ToUpper(testSecret)), header, payload)
			},
			cause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:   "edited payload is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				tok, err := f.ed.Issue(sampleClaims())
				if err != nil {
					t.Fatal(err)
				}
				parts := strings.Split(tok.Value, ".")
				_, payload, _ := segments(t, tok.Value)
				payload[defaultNamespace].(map[string]any)["x-hasura-default-role"] = "admin"
				payload[defaultNamespace].(map[string]any)["x-hasura-allowed-roles"] = []string{"admin"}
				return parts[0] + "." + encodeSegment(t, payload) + "." + parts[2]
			},
			cause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:   "signature with non-canonical base64 is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				tok, err := f.ed.Issue(sampleClaims())
				if err != nil {
					t.Fatal(err)
				}
				// An Ed25519 signature's last base64 character carries two unused
				// bits; setting one keeps the decoded bytes the same for a lax decoder.
				last := strings.IndexByte(base64URLAlphabet, tok.Value[len(tok.Value)-1])
				return tok.Value[:len(tok.Value)-1] + string(base64URLAlphabet[last|1])
			},
			cause: jwt.ErrTokenMalformed,
		},

		// times
		{
			name:   "missing exp is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withoutClaim("exp")) },
			cause:  jwt.ErrTokenRequiredClaimMissing,
		},
		{
			name:   "exp as a string is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withClaim("exp", "4102444800")) },
			cause:  jwt.ErrTokenMalformed,
		},
		{
			name:   "expired token is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, func(h, p map[string]any) {
					p["iat"] = now - 3600
					p["exp"] = now - 31
				})
			},
			cause: ErrExpired,
		},
		{
			name:   "nbf in the future beyond allowed_skew is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withClaim("nbf", now+31)) },
			cause:  jwt.ErrTokenNotValidYet,
		},
		{
			name:   "iat in the future beyond allowed_skew is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, func(h, p map[string]any) {
					p["iat"] = now + 31
					p["exp"] = now + 31 + 900
				})
			},
			cause: jwt.ErrTokenUsedBeforeIssued,
		},
		{
			// A token that lives longer than this instance's TTL (another
			// instance's, or an older setting's) could outlive the
			// revocations this instance remembers.
			name:   "lifetime beyond the TTL plus allowed_skew is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, func(h, p map[string]any) {
					p["exp"] = p["iat"].(float64) + float64((testTTL+fixtureSkew)/time.Second) + 1
				})
			},
			cause: errLifetime,
		},
		{
			name:   "missing iat is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withoutClaim("iat")) },
			cause:  errMissingClaim,
		},
		{
			name:   "expired and badly signed is refused for its signature",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.ed)
				payload["iat"] = now - 3600
				payload["exp"] = now - 1800
				return sign(t, jwt.SigningMethodEdDSA, f.strangerKey, header, payload)
			},
			cause:    jwt.ErrTokenSignatureInvalid,
			notCause: ErrExpired,
		},

		// kid
		{
			name:   "unknown kid is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withHeader("kid", "no-such-key")) },
			cause:  errUnknownKey,
		},
		{
			name:   "kid with a path is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withHeader("kid", "../../dev/null")) },
			cause:  errUnknownKey,
		},
		{
			name:   "kid with SQL is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withHeader("kid", "' OR 1=1--")) },
			cause:  errUnknownKey,
		},
		{
			name:   "missing kid is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, func(h, p map[string]any) { delete(h, "kid") })
			},
			cause: errUnknownKey,
		},
		{
			name:   "kid that is not a string is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withHeader("kid", 1)) },
			cause:  errUnknownKey,
		},
		{
			name:   "a stranger's key under its own kid is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.ed)
				stranger, err := newAsymmetricKey(f.strangerKey, "")
				if err != nil {
					t.Fatal(err)
				}
				header["kid"] = stranger.id
				return sign(t, jwt.SigningMethodEdDSA, f.strangerKey, header, payload)
			},
			cause: errUnknownKey,
		},

		// headers pointing at other keys
		{
			name:   "jku header is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, withHeader("jku", "https://attacker.example/jwks.json"))
			},
			cause: errHeaderParameter,
		},
		{
			name:   "x5u header is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, withHeader("x5u", "https://attacker.example/cert.pem"))
			},
			cause: errHeaderParameter,
		},
		{
			name:   "embedded jwk header signed by that key is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.ed)
				stranger, err := newAsymmetricKey(f.strangerKey, "")
				if err != nil {
					t.Fatal(err)
				}
				header["jwk"] = stranger.jwk
				return sign(t, jwt.SigningMethodEdDSA, f.strangerKey, header, payload)
			},
			cause: errHeaderParameter,
		},
		{
			name:   "x5c header is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withHeader("x5c", []string{"MIIB"})) },
			cause:  errHeaderParameter,
		},
		{
			name:   "crit header is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withHeader("crit", []string{"exp"})) },
			cause:  errHeaderParameter,
		},
		{
			name:   "typ other than JWT is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withHeader("typ", "at+jwt")) },
			cause:  errType,
		},

		// size and encoding
		{
			name:   "token over 8 KiB is refused even when well signed",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, withNamespaceMember("x-hasura-blob", strings.Repeat("a", MaxTokenBytes)))
			},
		},
		{
			name:   "non-base64 bytes in the header are refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				tok, _ := f.ed.Issue(sampleClaims())
				return "\xff\xfe" + tok.Value
			},
			cause: jwt.ErrTokenMalformed,
		},
		{
			name:   "standard base64 alphabet is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				tok, _ := f.ed.Issue(sampleClaims())
				parts := strings.Split(tok.Value, ".")
				return parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/"
			},
			cause: jwt.ErrTokenMalformed,
		},
		{
			name:   "padded base64 is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				tok, _ := f.ed.Issue(sampleClaims())
				return tok.Value + "=="
			},
			cause: jwt.ErrTokenMalformed,
		},
		{
			name:   "payload that is not UTF-8 is refused even when well signed",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				header, payload := f.genuine(t, f.ed)
				payload["note"] = "MARK"
				raw := strings.Replace(string(mustJSON(t, payload)), "MARK", "\xff\xfe", 1)
				signingInput := encodeSegment(t, header) + "." + base64.RawURLEncoding.EncodeToString([]byte(raw))
				sig, err := jwt.SigningMethodEdDSA.Sign(signingInput, f.edKey)
				if err != nil {
					t.Fatal(err)
				}
				return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig)
			},
			cause: jwt.ErrTokenMalformed,
		},
		{
			name:   "a 43-character opaque refresh token is refused",
			issuer: func(f *attackFixture) *Issuer { return f.hs },
			token:  func(t *testing.T, f *attackFixture) string { return b64([]byte(testSecret[:32])) },
			cause:  jwt.ErrTokenMalformed,
		},
		{
			name:   "empty string is refused",
			issuer: func(f *attackFixture) *Issuer { return f.hs },
			token:  func(t *testing.T, f *attackFixture) string { return "" },
			cause:  jwt.ErrTokenMalformed,
		},
		{
			name:   "four segments are refused",
			issuer: func(f *attackFixture) *Issuer { return f.hs },
			token: func(t *testing.T, f *attackFixture) string {
				tok, _ := f.hs.Issue(sampleClaims())
				return tok.Value + ".e30"
			},
			cause: jwt.ErrTokenMalformed,
		},

		// issuer and audience
		{
			name:   "wrong issuer is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, withClaim("iss", "https://evil.example"))
			},
			cause: jwt.ErrTokenInvalidIssuer,
		},
		{
			name:   "missing issuer is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withoutClaim("iss")) },
			cause:  jwt.ErrTokenRequiredClaimMissing,
		},
		{
			name:   "wrong audience is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, withClaim("aud", []string{"reports"}))
			},
			cause: jwt.ErrTokenInvalidAudience,
		},
		{
			name:   "missing audience is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withoutClaim("aud")) },
			cause:  jwt.ErrTokenRequiredClaimMissing,
		},

		// Hasura claims
		{
			name:   "missing namespace is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token:  func(t *testing.T, f *attackFixture) string { return f.edToken(t, withoutClaim(defaultNamespace)) },
			cause:  errNoNamespace,
		},
		{
			name:   "user id that differs from sub is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, withNamespaceMember("x-hasura-user-id", "someone-else"))
			},
			cause: errMissingClaim,
		},
		{
			name:   "default role outside allowed roles is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, withNamespaceMember("x-hasura-default-role", "admin"))
			},
			cause: errMissingClaim,
		},
		{
			name:   "namespace value that is not a string is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, withNamespaceMember("x-hasura-org-id", 42))
			},
			cause: jwt.ErrTokenMalformed,
		},
		{
			name:   "upper-case session variable is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, withNamespaceMember("X-Hasura-Role", "admin"))
			},
			cause: jwt.ErrTokenMalformed,
		},
		{
			name:   "x-hasura-role in the token is refused",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, withNamespaceMember("x-hasura-role", "admin"))
			},
			cause: jwt.ErrTokenMalformed,
		},
		{
			name:   "namespace in stringified form is refused where json is configured",
			issuer: func(f *attackFixture) *Issuer { return f.ed },
			token: func(t *testing.T, f *attackFixture) string {
				return f.edToken(t, func(h, p map[string]any) { p[defaultNamespace] = string(mustJSON(t, p[defaultNamespace])) })
			},
			cause: jwt.ErrTokenMalformed,
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.token(t, f)
			got, err := tt.issuer(f).Verify(raw)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", got)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v does not wrap ErrInvalidToken", err)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("error %v does not wrap %v", err, tt.cause)
			}
			if tt.notCause != nil && errors.Is(err, tt.notCause) {
				t.Errorf("error %v wraps %v", err, tt.notCause)
			}
			if !verifiedEqual(Verified{}, got) {
				t.Errorf("Verify returned claims with its error: %+v", got)
			}
		})
	}
}

// TestVerifyAcceptsWithinAllowedSkew are the controls for the skew attacks:
// the same forgeries just inside the leeway pass.
func TestVerifyAcceptsWithinAllowedSkew(t *testing.T) {
	f := newAttackFixture(t)
	now := startTime().Unix()
	tests := []struct {
		name   string
		change func(header, payload map[string]any)
	}{
		{"nbf within allowed_skew is accepted", withClaim("nbf", now+29)},
		{"iat within allowed_skew is accepted", withClaim("iat", now+29)},
		{"exp just inside allowed_skew is accepted", func(h, p map[string]any) { p["iat"] = now - 900; p["exp"] = now - 29 }},
		{"lifetime of exactly the TTL plus allowed_skew is accepted", func(h, p map[string]any) {
			p["exp"] = p["iat"].(float64) + float64((testTTL+fixtureSkew)/time.Second)
		}},
		{"audience among several is accepted", withClaim("aud", []string{"reports", fixtureAudience})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.ed.Verify(f.edToken(t, tt.change)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyOversizedInputUsesBoundedMemory(t *testing.T) {
	f := newAttackFixture(t)
	huge := strings.Repeat("eyJhbGciOiJFZERTQSJ9", (10<<20)/20)
	huge = huge + "." + huge + "." + huge
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := f.ed.Verify(huge)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("Verify error = %v; want the size refusal", err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 64<<10 {
		t.Fatalf("Verify allocated %d bytes for a %d-byte token; want it refused before reading", allocated, len(huge))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// verifiedEqual compares two Verified values, whose maps and slices == cannot.
func verifiedEqual(v, w Verified) bool {
	return v.UserID == w.UserID && v.SessionID == w.SessionID && v.DefaultRole == w.DefaultRole &&
		slices.Equal(v.AllowedRoles, w.AllowedRoles) &&
		maps.Equal(v.Custom, w.Custom) && v.AuthTime.Equal(w.AuthTime) &&
		v.ID == w.ID && v.IssuedAt.Equal(w.IssuedAt) && v.ExpiresAt.Equal(w.ExpiresAt)
}
