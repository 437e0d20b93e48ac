package token

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"authgate/internal/clock"
)

const (
	testTTL = 15 * time.Minute
	// testSecret is long enough for HS512.
	testSecret = "0123456789abcdefghijklmnopqrstuv0123456789abcdefghijklmnopqrstuv"
)

// allTypes returns Hasura's key types authgate supports.
func allTypes() []string {
	return []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "Ed25519"}
}

func startTime() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }

// testKeys holds one private key (PKCS#8 PEM) per key family, made once per test.
type testKeys struct {
	rsa, p256, p384, p521, ed string
}

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	return testKeys{
		rsa:  generate(t, "RS256"),
		p256: generate(t, "ES256"),
		p384: generate(t, "ES384"),
		p521: generate(t, "ES512"),
		ed:   generate(t, "Ed25519"),
	}
}

// forType returns the private key that signs a Hasura type.
func (k testKeys) forType(typ string) string {
	switch typ {
	case "RS256", "RS384", "RS512":
		return k.rsa
	case "ES256":
		return k.p256
	case "ES384":
		return k.p384
	case "ES512":
		return k.p521
	case "Ed25519":
		return k.ed
	}
	return ""
}

func generate(t testing.TB, keyType string) string {
	t.Helper()
	pemText, err := GenerateKey(keyType, nil)
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", keyType, err)
	}
	return pemText
}

// edKeyFromSeed makes a reproducible Ed25519 PKCS#8 PEM key.
func edKeyFromSeed(t testing.TB, seed byte) string {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// signerOf parses the first key of a PEM text.
func signerOf(t testing.TB, privatePEM string) crypto.Signer {
	t.Helper()
	signers, err := parsePrivateKeysPEM([]byte(privatePEM))
	if err != nil {
		t.Fatal(err)
	}
	return signers[0]
}

// publicPEM returns the PKIX public key PEM of a private key PEM.
func publicPEM(t testing.TB, privatePEM string) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(signerOf(t, privatePEM).Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func secretOfLength(n int) string { return testSecret[:n] }

// hasuraJSON builds a HASURA_GRAPHQL_JWT_SECRET value from fields.
func hasuraJSON(t testing.TB, fields map[string]any) string {
	t.Helper()
	out, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func mustConfig(t testing.TB, hasuraSecret, privateKeys string) *Config {
	t.Helper()
	cfg, err := ParseConfig(hasuraSecret, privateKeys)
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	return cfg
}

// configFor makes a Config of a Hasura type with extra settings merged in; the
// asymmetric ones use the jwk_url form.
func configFor(t testing.TB, keys testKeys, typ string, extra map[string]any) *Config {
	t.Helper()
	fields := map[string]any{"type": typ}
	privateKeys := ""
	if isHMACType(typ) {
		fields["key"] = testSecret
	} else {
		fields["jwk_url"] = "https://auth.example.com/.well-known/jwks.json"
		privateKeys = keys.forType(typ)
	}
	for name, value := range extra {
		fields[name] = value
	}
	return mustConfig(t, hasuraJSON(t, fields), privateKeys)
}

func newTestIssuer(cfg *Config, clk clock.Clock) *Issuer {
	return NewIssuer(cfg, clk, nil, testTTL)
}

func sampleClaims() Claims {
	return Claims{
		UserID:       "3f1c7c1e-9a43-4a39-9a56-7b7e2e1f0001",
		SessionID:    "5d6e7f80-1111-4222-8333-944455556666",
		DefaultRole:  "user",
		AllowedRoles: []string{"user", "editor"},
		Custom:       map[string]string{"x-hasura-org-id": "42", "x-hasura-plan": "pro"},
		AuthTime:     startTime().Add(-time.Hour),
	}
}

// countingReader is a reproducible stand-in for crypto/rand.
type countingReader struct{ next byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for n := range p {
		p[n] = r.next
		r.next++
	}
	return len(p), nil
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, fmt.Errorf("entropy source broken") }

// segments splits a compact token and decodes its header and payload.
func segments(t testing.TB, raw string) (header, payload map[string]any, signature string) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	decode := func(seg string) map[string]any {
		data, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return decode(parts[0]), decode(parts[1]), parts[2]
}

func encodeSegment(t testing.TB, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(data)
}
