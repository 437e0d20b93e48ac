package token

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// JWKSPath is where authgate serves Config.JWKS, below its public base URL.
const JWKSPath = "/.well-known/jwks.json"

// RecommendedAllowedSkew is the allowed_skew HasuraJWTSecret gives Hasura
// when the config sets none: room for clocks a few seconds apart, little
// beyond a token's expiry.
const RecommendedAllowedSkew = 5 * time.Second

// hasuraSecretOut is HASURA_GRAPHQL_JWT_SECRET as authgate prints it.
type hasuraSecretOut struct {
	Type                string          `json:"type,omitempty"`
	Key                 string          `json:"key,omitempty"`
	JWKURL              string          `json:"jwk_url,omitempty"`
	ClaimsNamespace     *string         `json:"claims_namespace,omitempty"`
	ClaimsNamespacePath string          `json:"claims_namespace_path,omitempty"`
	ClaimsFormat        string          `json:"claims_format,omitempty"`
	ClaimsMap           json.RawMessage `json:"claims_map,omitempty"`
	Issuer              string          `json:"issuer,omitempty"`
	Audience            json.RawMessage `json:"audience,omitempty"`
	AllowedSkew         json.RawMessage `json:"allowed_skew,omitempty"`
	Header              json.RawMessage `json:"header,omitempty"`
}

// HasuraJWTSecret returns the JSON Hasura's HASURA_GRAPHQL_JWT_SECRET needs to
// trust authgate's tokens. With private keys it points Hasura at the
// jwk_url HASURA_GRAPHQL_JWT_SECRET names, else at
// <publicBaseURL>/.well-known/jwks.json, so that rotated keys reach Hasura
// without a restart; with an HMAC secret it holds the type and the secret (and
// ignores publicBaseURL). Settings given in HASURA_GRAPHQL_JWT_SECRET (issuer,
// audience, claims namespace or path, claims format, claims_map, allowed_skew,
// header) are carried over.
//
// When the config sets no allowed_skew, the output sets
// RecommendedAllowedSkew: Hasura allows no clock skew by default and refuses
// an iat in its future, so a Hasura whose clock is a second behind would
// refuse a token authgate just made. (authgate does not backdate iat
// instead: the revocation cut-offs compare it with the instant of a password
// change or sign-out, and a token made in that same second would die.)
//
// It returns an error when the Config uses private keys without a jwk_url
// and publicBaseURL is not an absolute http or https URL.
func (c *Config) HasuraJWTSecret(publicBaseURL string) (string, error) {
	out := hasuraSecretOut{
		ClaimsNamespace:     c.hasura.claimsNamespace,
		ClaimsNamespacePath: c.hasura.claimsNamespacePath,
		ClaimsFormat:        c.hasura.claimsFormat,
		ClaimsMap:           c.hasura.claimsMap,
		Issuer:              c.hasura.issuer,
		Audience:            c.hasura.audience,
		AllowedSkew:         c.hasura.allowedSkew,
		Header:              c.hasura.header,
	}
	if out.AllowedSkew == nil {
		out.AllowedSkew = json.RawMessage(strconv.Itoa(int(RecommendedAllowedSkew / time.Second)))
	}
	switch {
	case c.symmetric:
		out.Type = c.hasura.hmacType
		out.Key = c.hasura.hmacKey
	case c.hasura.jwkURL != "":
		// What Hasura is already told: printed back as it is.
		out.JWKURL = c.hasura.jwkURL
	default:
		base, err := url.Parse(publicBaseURL)
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" ||
			base.RawQuery != "" || base.Fragment != "" || base.User != nil {
			return "", fmt.Errorf("token: public base URL %q is not an absolute http(s) URL without query or fragment", publicBaseURL)
		}
		out.JWKURL = strings.TrimRight(publicBaseURL, "/") + JWKSPath
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Hasura reads plain JSON; escaping & < > in URLs and namespaces would only obscure them.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return "", fmt.Errorf("token: encoding the Hasura JWT secret: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// JWKURL is the jwk_url HASURA_GRAPHQL_JWT_SECRET names, or "".
func (c *Config) JWKURL() string { return c.hasura.jwkURL }
