package authtest

import (
	"encoding/base64"
	"strings"
	"testing"
)

// JWTPayload is a JWT's decoded payload (JSON), its signature unchecked,
// for tests that look at what a token says.
func JWTPayload(t testing.TB, token string) []byte {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return raw
}
