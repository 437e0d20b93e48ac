// Package token issues and verifies authgate's access tokens, the short-lived
// JWTs Hasura trusts. It reads Hasura's JWT configuration, holds the signing
// keys, publishes them as a JWKS and prints the configuration Hasura needs.
package token

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	envHasuraSecret = "HASURA_GRAPHQL_JWT_SECRET"
	envPrivateKeys  = "AUTHGATE_JWT_PRIVATE_KEYS"

	defaultNamespace = "https://hasura.io/jwt/claims"

	formatJSON        = "json"
	formatStringified = "stringified_json"

	// maxAllowedSkew bounds allowed_skew: a larger leeway would quietly stretch
	// every token's life far past its TTL.
	maxAllowedSkew = time.Hour
)

// Config is authgate's access-token configuration: the keys, the algorithm
// and where the Hasura claims go. It is read once at start-up by ParseConfig
// and is safe for concurrent use.
type Config struct {
	symmetric bool
	keys      []*key // keys[0] signs; every key verifies
	byKID     map[string]*key
	methods   []string // the distinct algorithms of keys, for jwt.WithValidMethods
	layout    claimsLayout
	issuer    string
	audience  []string
	skew      time.Duration
	location  TokenLocation
	hasura    hasuraSettings
	jwks      []byte
	// warnings are what Hasura accepts and authgate reads past (unknown
	// fields, claims_map names Hasura ignores): the caller logs them.
	warnings []string
}

// hasuraSettings remembers what HASURA_GRAPHQL_JWT_SECRET set explicitly, so
// that HasuraJWTSecret can print it back.
type hasuraSettings struct {
	hmacType            string
	hmacKey             string
	claimsNamespace     *string // "" is a namespace too
	claimsNamespacePath string
	claimsFormat        string
	claimsMap           json.RawMessage
	issuer              string
	audience            json.RawMessage
	allowedSkew         json.RawMessage // the number as written: 60, 2.5, 6e1
	header              json.RawMessage
	// jwkURL is the jwk_url set, where Hasura fetches the keys from.
	jwkURL string
}

// hasuraSecretFields are the fields of HASURA_GRAPHQL_JWT_SECRET Hasura
// reads (Server/Auth/JWT.hs, JWTConfig's FromJSON); it ignores any other.
var hasuraSecretFields = []string{"type", "key", "jwk_url", "claims_namespace", "claims_namespace_path",
	"claims_format", "issuer", "audience", "allowed_skew", "header", "claims_map"}

// hasuraSecretJSON is HASURA_GRAPHQL_JWT_SECRET as Hasura documents it.
type hasuraSecretJSON struct {
	Type                string          `json:"type"`
	Key                 *string         `json:"key"`
	JWKURL              *string         `json:"jwk_url"`
	ClaimsNamespace     *string         `json:"claims_namespace"`
	ClaimsNamespacePath *string         `json:"claims_namespace_path"`
	ClaimsFormat        *string         `json:"claims_format"`
	Issuer              *string         `json:"issuer"`
	Audience            json.RawMessage `json:"audience"`
	AllowedSkew         json.RawMessage `json:"allowed_skew"`
	Header              json.RawMessage `json:"header"`
	ClaimsMap           json.RawMessage `json:"claims_map"`
}

// ParseConfig reads the two settings that decide how access tokens are signed:
// hasuraJWTSecret is the value of HASURA_GRAPHQL_JWT_SECRET (Hasura's own JSON
// configuration) and privateKeys the value of AUTHGATE_JWT_PRIVATE_KEYS (PKCS#8
// PEM private keys, or the path of a file holding them; the first key signs).
//
// It returns a one-line error naming the setting at fault when a setting is
// malformed, unsupported, contradicts the other, or names a key too weak to
// use; when both are empty the error is "HASURA_GRAPHQL_JWT_SECRET is not set".
func ParseConfig(hasuraJWTSecret, privateKeys string) (*Config, error) {
	secretText := strings.TrimSpace(hasuraJWTSecret)
	keysText := strings.TrimSpace(privateKeys)
	if secretText == "" && keysText == "" {
		return nil, errors.New(envHasuraSecret + " is not set")
	}

	var (
		in       hasuraSecretJSON
		warnings []string
	)
	if secretText != "" {
		var err error
		if in, warnings, err = decodeHasuraSecret(secretText); err != nil {
			return nil, err
		}
	}

	cfg := &Config{warnings: warnings}
	if err := cfg.readClaimSettings(in); err != nil {
		return nil, err
	}

	var err error
	if isHMACType(in.Type) {
		err = cfg.readHMACKey(in, keysText)
	} else {
		err = cfg.readAsymmetricKeys(in, secretText == "", keysText)
	}
	if err != nil {
		return nil, err
	}
	if in.JWKURL != nil {
		cfg.hasura.jwkURL = *in.JWKURL
	}

	if err := cfg.checkLayout(); err != nil {
		return nil, err
	}
	cfg.byKID = make(map[string]*key, len(cfg.keys))
	for n, k := range cfg.keys {
		if _, dup := cfg.byKID[k.id]; dup {
			return nil, fmt.Errorf("%s: key %d is listed twice", envPrivateKeys, n+1)
		}
		cfg.byKID[k.id] = k
		if !slices.Contains(cfg.methods, k.alg) {
			cfg.methods = append(cfg.methods, k.alg)
		}
	}
	cfg.jwks = buildJWKS(cfg.keys)
	return cfg, nil
}

// checkLayout issues and reads back a sample token's claims, so that a
// claims_map whose paths collide (with each other or with a claim authgate
// writes itself) stops start-up instead of every sign-in.
func (c *Config) checkLayout() error {
	sample := Claims{UserID: "sample-user", SessionID: "sample-session", DefaultRole: "sample-role",
		AllowedRoles: []string{"sample-role"}, Custom: map[string]string{}, AuthTime: time.Unix(1, 0),
		AMR: []string{"pwd"}, AuthLevel: 1}
	for _, mc := range c.layout.claimsMap {
		if !reservedSessionVariable(mc.name) {
			sample.Custom[mc.name] = "sample"
		}
	}
	payload, err := c.payload(sample, "sample-id", time.Unix(1, 0), time.Unix(2, 0))
	if err != nil {
		return secretError(err.Error())
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return secretError(err.Error())
	}
	claims := wireClaims{layout: &c.layout}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return secretError("a token made under it does not read back: " + oneLine(err.Error()))
	}
	if claims.hasura.defaultRole == "" || !slices.Contains(claims.hasura.allowedRoles, claims.hasura.defaultRole) {
		return secretError("under its claims_map a token's x-hasura-default-role is not among its x-hasura-allowed-roles, so Hasura would refuse every token")
	}
	return nil
}

// Warnings returns what HASURA_GRAPHQL_JWT_SECRET holds that Hasura accepts
// and authgate reads past (fields Hasura ignores, names claims_map ignores),
// one line each, for the caller to log. It never fails.
func (c *Config) Warnings() []string { return slices.Clone(c.warnings) }

// decodeHasuraSecret reads the JSON as Hasura does: one object, fields it
// does not know ignored (each named in a warning), nothing after it.
func decodeHasuraSecret(text string) (hasuraSecretJSON, []string, error) {
	var in hasuraSecretJSON
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&in); err != nil {
		return in, nil, secretError(describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return in, nil, secretError("unexpected text after the JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &fields); err != nil {
		return in, nil, secretError(describeJSONError(err))
	}
	var warnings []string
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(hasuraSecretFields, name) {
			warnings = append(warnings, secretError(fmt.Sprintf("unknown field %q is ignored, as Hasura ignores it", name)).Error())
		}
	}
	return in, warnings, nil
}

// describeJSONError names what is wrong without quoting the input, which may
// hold a secret.
func describeJSONError(err error) string {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("not valid JSON (at byte %d)", syntaxErr.Offset)
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("%s must not be a JSON %s", typeErr.Field, typeErr.Value)
	case errors.As(err, &typeErr):
		return "must be a JSON object"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "not valid JSON (it ends too early)"
	}
	return oneLine(strings.TrimPrefix(err.Error(), "json: "))
}

func (c *Config) readClaimSettings(in hasuraSecretJSON) error {
	if in.ClaimsNamespace != nil && in.ClaimsNamespacePath != nil {
		return secretError("set claims_namespace or claims_namespace_path, not both")
	}

	switch {
	case in.ClaimsNamespacePath != nil:
		path, err := parseJSONPath(*in.ClaimsNamespacePath)
		if err != nil {
			return secretError(fmt.Sprintf("claims_namespace_path %q is not a JSON path like $.hasura.claims or $: %s", *in.ClaimsNamespacePath, err))
		}
		if len(path) > 0 && path[0].isIndex {
			return secretError(fmt.Sprintf("claims_namespace_path %q must start with a name: a token's payload is an object", *in.ClaimsNamespacePath))
		}
		c.layout.namespace = path
		c.hasura.claimsNamespacePath = *in.ClaimsNamespacePath
	case in.ClaimsNamespace != nil:
		// A name, not a path: Hasura looks the whole string up ("" too).
		c.layout.namespace = jsonPath{{key: *in.ClaimsNamespace}}
		c.hasura.claimsNamespace = in.ClaimsNamespace
	default:
		c.layout.namespace = jsonPath{{key: defaultNamespace}}
	}
	if ns := c.layout.namespace; len(ns) > 0 && isRegisteredClaim(ns[0].key) {
		return secretError(fmt.Sprintf("the claims namespace cannot be %q: authgate writes that claim itself", ns[0].key))
	}

	if in.ClaimsFormat != nil {
		switch *in.ClaimsFormat {
		case formatJSON:
		case formatStringified:
			if len(c.layout.namespace) == 0 && !present(in.ClaimsMap) {
				return secretError("claims_format stringified_json needs a claims namespace; claims_namespace_path $ puts the claims at the top level")
			}
			c.layout.stringified = true
		default:
			return secretError(fmt.Sprintf("claims_format %q is not json or stringified_json", *in.ClaimsFormat))
		}
		c.hasura.claimsFormat = *in.ClaimsFormat
	}

	if present(in.ClaimsMap) {
		mapped, warnings, err := parseClaimsMap(in.ClaimsMap)
		if err != nil {
			return err
		}
		if in.ClaimsNamespace != nil || in.ClaimsNamespacePath != nil || in.ClaimsFormat != nil {
			warnings = append(warnings, secretError("claims_map is set, so claims_namespace, claims_namespace_path and claims_format are ignored, as Hasura ignores them").Error())
		}
		for _, mc := range mapped {
			if mc.path == nil && (mc.name == claimDefaultRole || mc.name == claimAllowedRoles) {
				warnings = append(warnings, secretError(fmt.Sprintf("claims_map gives %s a fixed value: every token carries it, whatever the user's roles", mc.name)).Error())
			}
		}
		c.layout = claimsLayout{claimsMap: mapped}
		c.hasura.claimsMap = compactJSON(in.ClaimsMap)
		c.warnings = append(c.warnings, warnings...)
	}

	if in.Issuer != nil {
		if *in.Issuer == "" {
			return secretError("issuer is empty")
		}
		c.issuer = *in.Issuer
		c.hasura.issuer = *in.Issuer
	}

	if present(in.Audience) {
		aud, err := parseAudience(in.Audience)
		if err != nil {
			return err
		}
		c.audience = aud
		c.hasura.audience = compactJSON(in.Audience)
	}

	if present(in.AllowedSkew) {
		skew, err := parseAllowedSkew(in.AllowedSkew)
		if err != nil {
			return err
		}
		c.skew = skew
		c.hasura.allowedSkew = compactJSON(in.AllowedSkew)
	}

	if present(in.Header) {
		loc, err := parseTokenLocation(in.Header)
		if err != nil {
			return err
		}
		c.location = loc
		c.hasura.header = compactJSON(in.Header)
	}
	return nil
}

// parseAllowedSkew reads allowed_skew as Hasura does, any JSON number of
// seconds (60, 60.0, 2.5, 6e1), within authgate's bounds: not negative, and
// at most an hour, since a larger leeway would quietly stretch every
// token's life far past its TTL.
func parseAllowedSkew(raw json.RawMessage) (time.Duration, error) {
	bad := secretError(fmt.Sprintf("allowed_skew must be a number of seconds from 0 to %d", int64(maxAllowedSkew/time.Second)))
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil || !isJSONNumber(raw) {
		return 0, bad
	}
	seconds, err := n.Float64()
	if err != nil || seconds < 0 || seconds > maxAllowedSkew.Seconds() {
		return 0, bad
	}
	return time.Duration(math.Round(seconds * float64(time.Second))), nil
}

// isJSONNumber tells a JSON number from a string holding one (json.Number
// takes both).
func isJSONNumber(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] != '"'
}

func parseAudience(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, secretError("audience is empty")
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, secretError("audience must be a string or a list of strings")
	}
	if len(many) == 0 || slices.Contains(many, "") {
		return nil, secretError("audience must not be empty or hold an empty string")
	}
	return many, nil
}

func (c *Config) readHMACKey(in hasuraSecretJSON, keysText string) error {
	if keysText != "" {
		return fmt.Errorf("%s must be empty when %s has type %s: a shared secret and private keys together are ambiguous", envPrivateKeys, envHasuraSecret, in.Type)
	}
	if in.JWKURL != nil {
		return secretError(fmt.Sprintf("type %s takes key, not jwk_url", in.Type))
	}
	if in.Key == nil {
		return secretError(fmt.Sprintf("type %s needs key (the shared secret)", in.Type))
	}
	if minBytes := hmacMinKeyBytes(in.Type); len(*in.Key) < minBytes {
		return secretError(fmt.Sprintf("%s key must be at least %d bytes", in.Type, minBytes))
	}
	k := newHMACKey(in.Type, []byte(*in.Key))
	c.symmetric = true
	c.keys = []*key{k}
	c.hasura.hmacType = in.Type
	c.hasura.hmacKey = *in.Key
	return nil
}

// readAsymmetricKeys handles both asymmetric forms: type+key (the public key
// Hasura trusts) and jwk_url (Hasura fetches our JWKS). jwkForm is true when
// HASURA_GRAPHQL_JWT_SECRET was empty, which means the jwk_url form.
func (c *Config) readAsymmetricKeys(in hasuraSecretJSON, jwkForm bool, keysText string) error {
	if in.Type != "" && !isAsymmetricType(in.Type) {
		return secretError(fmt.Sprintf("type %q is not supported; use one of HS256, HS384, HS512, RS256, RS384, RS512, Ed25519, ES256, ES384, ES512", in.Type))
	}
	switch {
	case in.Key != nil && in.JWKURL != nil:
		return secretError("set key or jwk_url, not both")
	case in.Key != nil && in.Type == "":
		return secretError("key needs type")
	case in.Key == nil && in.JWKURL == nil && !jwkForm:
		return secretError("needs key (with type) or jwk_url")
	case in.JWKURL != nil && *in.JWKURL == "":
		return secretError("jwk_url is empty")
	}
	if keysText == "" {
		form := "jwk_url"
		if in.Key != nil {
			form = "type " + in.Type
		}
		return fmt.Errorf("%s is not set; %s with %s needs the private keys that sign", envPrivateKeys, envHasuraSecret, form)
	}

	signers, err := loadPrivateKeys(keysText)
	if err != nil {
		return err
	}
	for n, s := range signers {
		k, err := newAsymmetricKey(s, in.Type)
		if err != nil {
			return fmt.Errorf("%s: key %d: %s", envPrivateKeys, n+1, err)
		}
		c.keys = append(c.keys, k)
	}

	if in.Key != nil {
		public, err := parsePublicKeyPEM(*in.Key)
		if err != nil {
			return secretError("key: " + err.Error())
		}
		first, ok := signers[0].Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !first.Equal(public) {
			return fmt.Errorf("%s: the first private key does not match the public key in %s", envPrivateKeys, envHasuraSecret)
		}
	}
	return nil
}

// loadPrivateKeys reads PEM text, or the file it names when it holds no PEM.
func loadPrivateKeys(text string) ([]crypto.Signer, error) {
	pemText := []byte(text)
	if !strings.Contains(text, "-----BEGIN") {
		data, err := os.ReadFile(text)
		if err != nil {
			return nil, fmt.Errorf("%s: no PEM text, and reading it as a file failed: %s", envPrivateKeys, oneLine(err.Error()))
		}
		pemText = data
	}
	signers, err := parsePrivateKeysPEM(pemText)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", envPrivateKeys, err)
	}
	return signers, nil
}

// Algorithm returns the JWS algorithm that signs new tokens: HS256, HS384,
// HS512, RS256, RS384, RS512, ES256, ES384, ES512 or EdDSA (Hasura's type
// Ed25519). It never fails.
func (c *Config) Algorithm() string { return c.keys[0].alg }

// Symmetric reports whether tokens are signed with a shared HMAC secret
// (Hasura holds the same secret) rather than a private key. It never fails.
func (c *Config) Symmetric() bool { return c.symmetric }

// AllowedSkew returns the leeway authgate allows on exp, nbf and iat when it
// verifies a token itself (allowed_skew; zero by default). It never fails.
func (c *Config) AllowedSkew() time.Duration { return c.skew }

// JWKS returns the JSON Web Key Set to serve at /.well-known/jwks.json: the
// public key of every configured private key, signing key first. For an HMAC
// secret it returns {"keys":[]}, since a secret is never published. It never
// fails; the caller may keep or change the returned slice.
func (c *Config) JWKS() []byte { return bytes.Clone(c.jwks) }

// String describes the configuration without any key material, so that a
// Config printed by mistake leaks no secret. It never fails.
func (c *Config) String() string {
	if len(c.keys) == 0 {
		return "token.Config{}"
	}
	ids := make([]string, len(c.keys))
	for n, k := range c.keys {
		ids[n] = k.id
	}
	return fmt.Sprintf("token.Config{alg: %s, kids: [%s]}", c.Algorithm(), strings.Join(ids, " "))
}

// GoString is String, so that %#v leaks no secret either. It never fails.
func (c *Config) GoString() string { return c.String() }

func secretError(what string) error {
	return fmt.Errorf("%s: %s", envHasuraSecret, what)
}

func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return bytes.Clone(raw)
	}
	return buf.Bytes()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func isHMACType(t string) bool {
	return t == jwt.SigningMethodHS256.Alg() || t == jwt.SigningMethodHS384.Alg() || t == jwt.SigningMethodHS512.Alg()
}

func isAsymmetricType(t string) bool {
	switch t {
	case "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "Ed25519":
		return true
	}
	return false
}

// hmacMinKeyBytes is the hash size of the algorithm: RFC 7518 section 3.2
// requires a key at least that long.
func hmacMinKeyBytes(t string) int {
	switch t {
	case "HS384":
		return 48
	case "HS512":
		return 64
	}
	return 32
}

// isRegisteredClaim names the top-level claims authgate writes; a namespace
// there would overwrite one of them.
func isRegisteredClaim(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "auth_time":
		return true
	}
	return false
}
