package token

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"authgate/internal/clock"
)

// MaxTokenBytes is the longest access token Verify reads; anything longer is
// refused before parsing, and Issue never makes one.
const MaxTokenBytes = 8 << 10

// maxNumericDate bounds token times (year 10000 or so) so that converting
// them to int64 nanoseconds cannot overflow.
const maxNumericDate = 253402300800

var (
	// ErrInvalidToken is wrapped by every error Verify returns.
	ErrInvalidToken = errors.New("token: invalid access token")
	// ErrExpired is wrapped, besides ErrInvalidToken, when a token whose
	// signature holds has expired, so that a client can be told to refresh.
	ErrExpired = errors.New("token: access token expired")

	errHeaderParameter = errors.New("header carries a parameter other than alg, typ and kid")
	errType            = errors.New(`header typ is not "JWT"`)
	errUnknownKey      = errors.New("kid names no configured key")
	errAlgorithm       = errors.New("alg is not the algorithm of the key kid names")
	errMissingClaim    = errors.New("a required claim is missing or inconsistent")
	errLifetime        = errors.New("exp - iat exceeds the access-token lifetime plus allowed_skew")
)

// Claims are what authgate puts in an access token.
type Claims struct {
	UserID       string            // sub and x-hasura-user-id
	SessionID    string            // sid and x-hasura-session-id
	DefaultRole  string            // x-hasura-default-role
	AllowedRoles []string          // x-hasura-allowed-roles (DefaultRole is always added if missing)
	Custom       map[string]string // extra x-hasura-* values copied into the namespace
	AuthTime     time.Time         // the session's original login time → auth_time (unix seconds)
	// AMR are the sign-in's authentication methods (RFC 8176 names, e.g.
	// pwd, otp, hwk) → amr; none: no amr claim.
	AMR []string
	// AuthLevel is the sign-in's assurance: 1 (one factor) or 2 (two
	// factors, or a passkey with user verification) → x-hasura-auth-level;
	// 0: not carried (tokens made before authgate knew levels).
	AuthLevel int
}

// Token is a signed access token.
type Token struct {
	Value     string    // the compact JWT
	ID        string    // jti
	IssuedAt  time.Time // iat, whole seconds
	ExpiresAt time.Time // exp = IssuedAt + TTL
}

// Verified is what a valid access token says.
type Verified struct {
	Claims
	ID        string    // jti
	IssuedAt  time.Time // iat
	ExpiresAt time.Time // exp
}

// Issuer signs and verifies access tokens under one Config. It is safe for
// concurrent use when its random reader is.
type Issuer struct {
	cfg    *Config
	clk    clock.Clock
	random io.Reader
	ttl    time.Duration
	parser *jwt.Parser
	keyFor jwt.Keyfunc
}

// NewIssuer returns an Issuer that signs with cfg's first key, takes the time
// from clk and token ids from random (nil means crypto/rand.Reader), and makes
// tokens that live for ttl, truncated to whole seconds as JWT times are.
//
// It panics when cfg or clk is nil or ttl is under a second: those are
// programming errors, not conditions to handle.
func NewIssuer(cfg *Config, clk clock.Clock, random io.Reader, ttl time.Duration) *Issuer {
	if cfg == nil || clk == nil {
		panic("token: NewIssuer needs a Config and a Clock")
	}
	if ttl < time.Second {
		panic("token: NewIssuer needs a TTL of at least one second")
	}
	i := &Issuer{cfg: cfg, clk: clk, random: orSystemRandom(random), ttl: ttl.Truncate(time.Second)}
	options := []jwt.ParserOption{
		jwt.WithValidMethods(cfg.methods),
		jwt.WithTimeFunc(clk.Now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.skew),
		// Strict base64 gives each token one spelling, so an edited encoding is refused too.
		jwt.WithStrictDecoding(),
	}
	if cfg.issuer != "" {
		options = append(options, jwt.WithIssuer(cfg.issuer))
	}
	if len(cfg.audience) > 0 {
		options = append(options, jwt.WithAudience(cfg.audience...))
	}
	i.parser = jwt.NewParser(options...)
	i.keyFor = i.lookupKey
	return i
}

// TTL returns how long the tokens Issue makes live. It never fails.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue signs an access token carrying c, issued now by the Issuer's clock.
//
// It returns an error when c lacks UserID, SessionID or DefaultRole, when a
// Custom name is not a lower-case x-hasura-* name or is one authgate writes
// itself (or x-hasura-role), when the JWT config's claims_map reads a
// session variable c lacks and gives it no default, when the token would be
// longer than MaxTokenBytes, or when reading randomness or signing fails.
func (i *Issuer) Issue(c Claims) (Token, error) {
	if err := checkClaims(c); err != nil {
		return Token{}, err
	}
	var idBytes [16]byte
	if _, err := io.ReadFull(i.random, idBytes[:]); err != nil {
		return Token{}, fmt.Errorf("token: reading randomness for jti: %w", err)
	}
	id := b64(idBytes[:])
	issuedAt := i.clk.Now().UTC().Truncate(time.Second)
	expiresAt := issuedAt.Add(i.ttl)

	payload, err := i.cfg.payload(c, id, issuedAt, expiresAt)
	if err != nil {
		return Token{}, fmt.Errorf("token: encoding the Hasura claims: %w", err)
	}

	signer := i.cfg.keys[0]
	t := jwt.NewWithClaims(signer.method, payload)
	t.Header["kid"] = signer.id
	value, err := t.SignedString(signer.sign)
	if err != nil {
		return Token{}, fmt.Errorf("token: signing: %w", err)
	}
	if len(value) > MaxTokenBytes {
		return Token{}, fmt.Errorf("token: the access token would be %d bytes, over the %d Verify accepts; carry fewer Custom values", len(value), MaxTokenBytes)
	}
	return Token{Value: value, ID: id, IssuedAt: issuedAt, ExpiresAt: expiresAt}, nil
}

// payload is the claim set of a token carrying c: the registered claims, and
// the session variables where the config's layout puts them.
func (cfg *Config) payload(c Claims, id string, issuedAt, expiresAt time.Time) (jwt.MapClaims, error) {
	payload := jwt.MapClaims{
		"sub": c.UserID,
		"sid": c.SessionID,
		"jti": id,
		"iat": issuedAt.Unix(),
		"exp": expiresAt.Unix(),
	}
	if !c.AuthTime.IsZero() {
		payload["auth_time"] = c.AuthTime.Unix()
	}
	if len(c.AMR) > 0 {
		payload["amr"] = c.AMR
	}
	if cfg.issuer != "" {
		payload["iss"] = cfg.issuer
	}
	if len(cfg.audience) > 0 {
		payload["aud"] = json.RawMessage(cfg.hasura.audience)
	}
	return payload, cfg.layout.place(payload, c.sessionVariables())
}

// sessionVariables are the Hasura session variables a token carries for c,
// by name: what Hasura's permissions see. A new one (like
// x-hasura-auth-level) is a Claims field, a line here and a case in
// hasuraClaims.decode; the layout puts it wherever the JWT config says.
func (c Claims) sessionVariables() map[string]any {
	roles := slices.Clone(c.AllowedRoles)
	if !slices.Contains(roles, c.DefaultRole) {
		roles = append(roles, c.DefaultRole)
	}
	vars := make(map[string]any, 4+len(c.Custom))
	for name, value := range c.Custom {
		vars[name] = value
	}
	vars[claimUserID] = c.UserID
	vars[claimSessionID] = c.SessionID
	vars[claimDefaultRole] = c.DefaultRole
	vars[claimAllowedRoles] = roles
	if c.AuthLevel > 0 {
		vars[claimAuthLevel] = strconv.Itoa(c.AuthLevel)
	}
	return vars
}

func checkClaims(c Claims) error {
	switch {
	case c.UserID == "":
		return errors.New("token: Claims.UserID is empty")
	case c.SessionID == "":
		return errors.New("token: Claims.SessionID is empty")
	case c.DefaultRole == "":
		return errors.New("token: Claims.DefaultRole is empty")
	case c.AuthLevel < 0 || c.AuthLevel > 2:
		return errors.New("token: Claims.AuthLevel is not 0, 1 or 2")
	}
	for name := range c.Custom {
		if !strings.HasPrefix(name, hasuraPrefix) || name != strings.ToLower(name) {
			return fmt.Errorf("token: Claims.Custom name %q is not a lower-case x-hasura-* name", name)
		}
		switch name {
		case claimUserID, claimSessionID, claimDefaultRole, claimAllowedRoles, claimAuthLevel:
			return fmt.Errorf("token: Claims.Custom cannot set %s; it comes from the other Claims fields", name)
		case claimRole:
			return fmt.Errorf("token: Claims.Custom cannot set %s; Hasura picks the role per request", name)
		}
	}
	return nil
}

// Verify checks an access token's size, form, header, signature (with the key
// its kid names and only that key's algorithm), times (with AllowedSkew),
// lifetime (exp - iat at most the Issuer's TTL plus AllowedSkew), issuer and
// audience when configured, and Hasura claims, and returns what it says.
//
// Every error it returns wraps ErrInvalidToken; when the signature holds but
// the token has expired, the error also wraps ErrExpired. No error quotes the
// token.
func (i *Issuer) Verify(raw string) (Verified, error) {
	if len(raw) > MaxTokenBytes {
		return Verified{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenBytes)
	}
	claims := wireClaims{layout: &i.cfg.layout}
	if _, err := i.parser.ParseWithClaims(raw, &claims, i.keyFor); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) && errors.Is(err, jwt.ErrTokenInvalidClaims) {
			return Verified{}, fmt.Errorf("%w: %w: %w", ErrInvalidToken, ErrExpired, err)
		}
		return Verified{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// Revocations are remembered (and purged) for as long as a token can
	// live: one that lives longer than this instance issues, made under a
	// longer TTL elsewhere or earlier, could outlive them.
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > i.ttl+i.cfg.skew {
		return Verified{}, fmt.Errorf("%w: %w", ErrInvalidToken, errLifetime)
	}
	v := Verified{
		Claims: Claims{
			UserID:       claims.Subject,
			SessionID:    claims.sessionID,
			DefaultRole:  claims.hasura.defaultRole,
			AllowedRoles: claims.hasura.allowedRoles,
			Custom:       claims.hasura.custom,
			AMR:          claims.amr,
			AuthLevel:    claims.hasura.authLevel,
		},
		ID:        claims.ID,
		IssuedAt:  claims.IssuedAt.UTC(),
		ExpiresAt: claims.ExpiresAt.UTC(),
	}
	if claims.authTime != nil {
		v.AuthTime = claims.authTime.UTC()
	}
	return v, nil
}

// lookupKey is the jwt.Keyfunc: it runs after the header is read and before
// the signature is checked.
func (i *Issuer) lookupKey(t *jwt.Token) (any, error) {
	// Only what authgate writes is accepted, so jku, x5u, jwk, x5c and crit
	// can never point the check at a key the token brings along.
	for name := range t.Header {
		switch name {
		case "alg", "typ", "kid":
		default:
			return nil, errHeaderParameter
		}
	}
	if typ, _ := t.Header["typ"].(string); typ != "JWT" {
		return nil, errType
	}
	kid, _ := t.Header["kid"].(string)
	k := i.cfg.byKID[kid]
	if k == nil {
		return nil, errUnknownKey
	}
	// Pinning alg to the key stops a token choosing how its signature is
	// read, e.g. HS256 with an RSA public key as the secret.
	if t.Method.Alg() != k.alg {
		return nil, errAlgorithm
	}
	return k.verify, nil
}

// wireClaims is the payload as Verify decodes it. jwt validates exp, nbf, iat,
// iss and aud through the embedded RegisteredClaims, then calls Validate.
type wireClaims struct {
	layout *claimsLayout
	jwt.RegisteredClaims
	sessionID string
	authTime  *jwt.NumericDate
	amr       []string
	hasura    hasuraClaims
}

// UnmarshalJSON reads the registered claims and the Hasura namespace from
// wherever the Config puts it. The payload is decoded once, into plain maps,
// and every claim read from there: Verify runs on every request.
func (w *wireClaims) UnmarshalJSON(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("payload is not UTF-8")
	}
	var top map[string]any
	if err := json.Unmarshal(data, &top); err != nil {
		return err
	}
	if top == nil {
		return errors.New("payload is not a JSON object")
	}
	var err error
	for _, field := range [...]struct {
		name string
		dst  *string
	}{{"iss", &w.Issuer}, {"sub", &w.Subject}, {"jti", &w.ID}, {"sid", &w.sessionID}} {
		if *field.dst, err = optionalString(top[field.name]); err != nil {
			return fmt.Errorf("%s: %w", field.name, err)
		}
	}
	if w.Audience, err = audience(top["aud"]); err != nil {
		return fmt.Errorf("aud: %w", err)
	}
	for _, field := range [...]struct {
		name string
		dst  **jwt.NumericDate
	}{{"exp", &w.ExpiresAt}, {"nbf", &w.NotBefore}, {"iat", &w.IssuedAt}, {"auth_time", &w.authTime}} {
		if *field.dst, err = numericDate(top[field.name]); err != nil {
			return fmt.Errorf("%s: %w", field.name, err)
		}
	}
	if raw, ok := top["amr"]; ok && raw != nil {
		list, ok := raw.([]any)
		if !ok {
			return errors.New("amr: not a list")
		}
		if w.amr, err = stringList(list); err != nil {
			return fmt.Errorf("amr: %w", err)
		}
	}
	members, err := w.layout.members(top)
	if err != nil {
		return err
	}
	return w.hasura.decode(members)
}

func optionalString(value any) (string, error) {
	switch v := value.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", errNotString
}

func audience(value any) (jwt.ClaimStrings, error) {
	switch v := value.(type) {
	case nil:
		return nil, nil
	case string:
		return jwt.ClaimStrings{v}, nil
	case []any:
		return stringList(v)
	}
	return nil, errors.New("not a string or a list of strings")
}

// Validate refuses a payload that lacks what authgate always writes, or whose
// copies of the user and session disagree.
func (w *wireClaims) Validate() error {
	if w.Subject == "" || w.ID == "" || w.IssuedAt == nil || w.sessionID == "" ||
		w.hasura.userID != w.Subject || w.hasura.sessionID != w.sessionID ||
		w.hasura.defaultRole == "" || !slices.Contains(w.hasura.allowedRoles, w.hasura.defaultRole) {
		return errMissingClaim
	}
	return nil
}

// numericDate reads an optional RFC 7519 NumericDate, which must be a JSON
// number (jwt.NumericDate would also take a quoted one); absent or null gives
// nil.
func numericDate(value any) (*jwt.NumericDate, error) {
	switch seconds := value.(type) {
	case nil:
		return nil, nil
	case float64:
		if math.Abs(seconds) > maxNumericDate {
			return nil, errors.New("not a usable time")
		}
		whole, frac := math.Modf(seconds)
		return jwt.NewNumericDate(time.Unix(int64(whole), int64(frac*1e9))), nil
	}
	return nil, errors.New("not a JSON number")
}

func orSystemRandom(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
