package token

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
)

// SymmetricKey returns the HS* signing secret, or nil for asymmetric keys.
// authgate derives its refresh-token hashing key from it when no separate
// secret is configured.
func (c *Config) SymmetricKey() []byte {
	if !c.symmetric {
		return nil
	}
	secret, _ := c.keys[0].sign.([]byte)
	return append([]byte(nil), secret...)
}

// GenerateHasuraSecret returns a new HASURA_GRAPHQL_JWT_SECRET value for an
// HS* type, in the JSON form Hasura and authgate read:
// {"type":"HS256","key":"…"}. The key is the algorithm's hash size of
// random bytes (32, 48 or 64) from random, base64url-encoded, so it is at
// least as many bytes as RFC 7518 asks for. A nil random means
// crypto/rand.Reader. It returns an error for any other type, or when
// random fails.
func GenerateHasuraSecret(hsType string, random io.Reader) (string, error) {
	if !isHMACType(hsType) {
		return "", fmt.Errorf("token: %q is not one of HS256, HS384, HS512", hsType)
	}
	raw := make([]byte, hmacMinKeyBytes(hsType))
	if _, err := io.ReadFull(orSystemRandom(random), raw); err != nil {
		return "", fmt.Errorf("token: generating an %s secret: %w", hsType, err)
	}
	out, err := json.Marshal(struct {
		Type string `json:"type"`
		Key  string `json:"key"`
	}{hsType, base64.RawURLEncoding.EncodeToString(raw)})
	if err != nil {
		return "", fmt.Errorf("token: encoding an %s secret: %w", hsType, err)
	}
	return string(out), nil
}
