package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Claims are a user's custom Hasura claims: lower-case x-hasura-* names with
// string values. In GraphQL they are the JSON scalar (an object).
type Claims map[string]string

// MarshalGQL writes the claims as a JSON object (never null).
func (c Claims) MarshalGQL(w io.Writer) {
	if c == nil {
		c = Claims{}
	}
	b, _ := json.Marshal(map[string]string(c))
	_, _ = w.Write(b)
}

// UnmarshalGQL reads a JSON object of strings.
func (c *Claims) UnmarshalGQL(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("claims must be an object")
	}
	out := Claims{}
	for k, val := range m {
		s, ok := val.(string)
		if !ok {
			return fmt.Errorf("claim %s must be a string", k)
		}
		out[k] = s
	}
	*c = out
	return nil
}

// MarshalJSON writes nil claims as {} so clients always see an object.
func (c Claims) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]string(c))
}

// reservedClaims are the session variables authgate itself writes, and the
// role Hasura picks per request: never custom.
var reservedClaims = map[string]bool{
	"x-hasura-user-id":       true,
	"x-hasura-default-role":  true,
	"x-hasura-allowed-roles": true,
	"x-hasura-session-id":    true,
	"x-hasura-role":          true,
	"x-hasura-auth-level":    true,
}

const (
	maxClaims          = 50
	maxClaimValueBytes = 1024
)

// SetUserClaims replaces the custom claims of the user who names (its id
// or email); they reach the user's access tokens at the next issue or
// refresh. Names are lower-cased. Errors: BAD_USER_INPUT (a name that is not
// x-hasura-*, a reserved name, an oversized value), NOT_FOUND, UNAVAILABLE.
func (s *Service) SetUserClaims(ctx context.Context, who string, claims map[string]string) (Claims, error) {
	if claims == nil {
		claims = map[string]string{}
	}
	u, err := s.UpdateUser(ctx, who, UserUpdate{Claims: claims})
	if err != nil {
		return nil, err
	}
	return u.Claims, nil
}

// normalizeClaims checks custom claims and lower-cases their names.
func normalizeClaims(claims map[string]string) (Claims, error) {
	normalized := Claims{}
	if len(claims) > maxClaims {
		return nil, badInput(fmt.Sprintf("at most %d custom claims", maxClaims))
	}
	for name, value := range claims {
		name = strings.ToLower(strings.TrimSpace(name))
		if !strings.HasPrefix(name, "x-hasura-") || len(name) == len("x-hasura-") || !isClaimName(name) {
			return nil, badInput(fmt.Sprintf("claim %q: names must be x-hasura-* (letters, digits, '-', '_')", name))
		}
		if reservedClaims[name] {
			return nil, badInput(fmt.Sprintf("claim %q is reserved: authgate or Hasura sets it", name))
		}
		if len(value) > maxClaimValueBytes || !utf8.ValidString(value) {
			return nil, badInput(fmt.Sprintf("claim %q: the value must be UTF-8 of at most %d bytes", name, maxClaimValueBytes))
		}
		normalized[name] = value
	}
	return normalized, nil
}

func isClaimName(s string) bool {
	for _, c := range s {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// JSONObject is a JSON object passed through as it is: a WebAuthn
// ceremony's options and credentials (the GraphQL JSON scalar).
type JSONObject json.RawMessage

// MarshalGQL writes the object (null when empty).
func (j JSONObject) MarshalGQL(w io.Writer) {
	if len(j) == 0 {
		_, _ = w.Write([]byte("null"))
		return
	}
	_, _ = w.Write(j)
}

// UnmarshalGQL reads any JSON object.
func (j *JSONObject) UnmarshalGQL(v any) error {
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("must be a JSON object")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	*j = b
	return nil
}

// MarshalJSON writes the object as it is.
func (j JSONObject) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// UnmarshalJSON keeps the object as it is.
func (j *JSONObject) UnmarshalJSON(b []byte) error {
	*j = append((*j)[:0], b...)
	return nil
}
