package token

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"authgate/internal/clock"
)

// Tests of HASURA_GRAPHQL_JWT_SECRET read exactly as Hasura reads it (issue
// 12.7, 12.8). Where each rule comes from is named in the test.

// TestAllowedSkewIsAnyJSONNumber: Hasura reads allowed_skew as a
// NominalDiffTime (Server/Auth/JWT.hs, JWTConfig's FromJSON:
// o .:? "allowed_skew"), which aeson takes from any JSON number.
func TestAllowedSkewIsAnyJSONNumber(t *testing.T) {
	for text, want := range map[string]time.Duration{
		"60":   time.Minute,
		"60.0": time.Minute,
		"2.5":  2500 * time.Millisecond,
		"6e1":  time.Minute,
		"0":    0,
	} {
		cfg, err := ParseConfig(`{"type":"HS256","key":"`+testSecret+`","allowed_skew":`+text+`}`, "")
		if err != nil {
			t.Errorf("allowed_skew %s: %v", text, err)
			continue
		}
		if cfg.AllowedSkew() != want {
			t.Errorf("allowed_skew %s = %v, want %v", text, cfg.AllowedSkew(), want)
		}
		// Printed back as written, so Hasura reads the same number.
		if out, err := cfg.HasuraJWTSecret(""); err != nil || !strings.Contains(out, `"allowed_skew":`+text) {
			t.Errorf("allowed_skew %s printed as %s (%v)", text, out, err)
		}
	}
	for _, text := range []string{`"60"`, "-1", "3601", "true"} {
		if _, err := ParseConfig(`{"type":"HS256","key":"`+testSecret+`","allowed_skew":`+text+`}`, ""); err == nil ||
			!strings.Contains(err.Error(), "allowed_skew") {
			t.Errorf("allowed_skew %s: %v, want a refusal naming allowed_skew", text, err)
		}
	}
}

// TestUnknownFieldsAreIgnored: Hasura's JWTConfig parser reads the fields it
// knows and ignores the rest (Server/Auth/JWT.hs, JWTConfig's FromJSON), so a
// config Hasura runs with must not stop authgate.
func TestUnknownFieldsAreIgnored(t *testing.T) {
	cfg, err := ParseConfig(`{"type":"HS256","key":"`+testSecret+`","algorithm":"HS256","comment":{"x":1}}`, "")
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	warnings := strings.Join(cfg.Warnings(), "\n")
	for _, field := range []string{`"algorithm"`, `"comment"`} {
		if !strings.Contains(warnings, field) || !strings.Contains(warnings, "HASURA_GRAPHQL_JWT_SECRET") {
			t.Errorf("warnings %q do not name %s", warnings, field)
		}
	}
	if strings.Contains(warnings, testSecret[:20]) {
		t.Errorf("warnings quote the key: %q", warnings)
	}
}

// TestNamespacePathsInHasuraSyntax: claims_namespace_path is read by Hasura's
// parseJSONPath (Data/Parser/JSONPath.hs): "$" alone is the top, "$" is
// otherwise optional, steps are name, .name, [n], ['…'] and ["…"], and a
// name starts with a letter or _ (so "$.1claims" is refused). Hasura looks
// the namespace up with executeJSONPath; the test walks the payload itself.
func TestNamespacePathsInHasuraSyntax(t *testing.T) {
	for _, tc := range []struct {
		path string
		walk func(payload map[string]any) any
	}{
		{"claims", func(p map[string]any) any { return p["claims"] }},
		{".claims", func(p map[string]any) any { return p["claims"] }},
		{"$claims", func(p map[string]any) any { return p["claims"] }},
		{"$.hasura.claims", func(p map[string]any) any { return obj(p["hasura"])["claims"] }},
		{"$.hasura[1]", func(p map[string]any) any { return list(p["hasura"])[1] }},
		{"$.hasura.[0]", func(p map[string]any) any { return list(p["hasura"])[0] }},
		{`$['https://example.com/jwt']["a\"b"]`, func(p map[string]any) any { return obj(p["https://example.com/jwt"])[`a"b`] }},
		{`$.é_x-1`, func(p map[string]any) any { return p["é_x-1"] }},
	} {
		t.Run(tc.path, func(t *testing.T) {
			cfg := mustConfig(t, hasuraJSON(t, map[string]any{"type": "HS256", "key": testSecret, "claims_namespace_path": tc.path}), "")
			issuer := newTestIssuer(cfg, clock.NewFake(startTime()))
			tok, err := issuer.Issue(sampleClaims())
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			_, payload, _ := segments(t, tok.Value)
			ns, _ := tc.walk(payload).(map[string]any)
			if ns["x-hasura-user-id"] != sampleClaims().UserID {
				t.Fatalf("payload %v: no namespace at %s", payload, tc.path)
			}
			if v, err := issuer.Verify(tok.Value); err != nil || v.UserID != sampleClaims().UserID {
				t.Fatalf("Verify: %+v %v", v, err)
			}
		})
	}
	for _, path := range []string{"$.1claims", "", "$.", "$.a..b", "$['a", "$[x]", "$.a b", "$[0]"} {
		if _, err := ParseConfig(hasuraJSON(t, map[string]any{"type": "HS256", "key": testSecret, "claims_namespace_path": path}), ""); err == nil ||
			!strings.Contains(err.Error(), "claims_namespace_path") {
			t.Errorf("claims_namespace_path %q: %v, want a refusal naming it", path, err)
		}
	}
}

// TestEmptyClaimsNamespace: Hasura takes claims_namespace as a key, any
// string, "" too (Server/Auth/JWT.hs: ClaimNs, looked up with M.lookup).
func TestEmptyClaimsNamespace(t *testing.T) {
	cfg := mustConfig(t, `{"type":"HS256","key":"`+testSecret+`","claims_namespace":""}`, "")
	issuer := newTestIssuer(cfg, clock.NewFake(startTime()))
	tok, err := issuer.Issue(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	_, payload, _ := segments(t, tok.Value)
	if obj(payload[""])["x-hasura-user-id"] != sampleClaims().UserID {
		t.Fatalf("payload %v: no namespace under the empty key", payload)
	}
	if _, err := issuer.Verify(tok.Value); err != nil {
		t.Fatal(err)
	}
	if out, err := cfg.HasuraJWTSecret(""); err != nil || !strings.Contains(out, `"claims_namespace":""`) {
		t.Errorf("printed as %s (%v), want the empty namespace kept", out, err)
	}
}

// TestPublicKeyPEMWithSeveralBlocks: Hasura reads the first PEM block of key
// and ignores the rest (Server/Auth/JWT/Internal.hs, fromPkcsPem and
// fromX509Pem: getAtleastOne), so a certificate chain works.
func TestPublicKeyPEMWithSeveralBlocks(t *testing.T) {
	keys := newTestKeys(t)
	signer := signerOf(t, keys.rsa)
	certPEM := func(subject string) string {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: subject},
			NotBefore: startTime(), NotAfter: startTime().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	other := publicPEM(t, generate(t, "RS256"))
	for name, key := range map[string]string{
		"a certificate chain":          certPEM("auth.example.com") + certPEM("Example CA"),
		"a public key and another one": publicPEM(t, keys.rsa) + other,
	} {
		if _, err := ParseConfig(`{"type":"RS256","key":`+quote(key)+`}`, keys.rsa); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The first block decides: another key first is another key.
	if _, err := ParseConfig(`{"type":"RS256","key":`+quote(other+publicPEM(t, keys.rsa))+`}`, keys.rsa); err == nil {
		t.Error("a key whose first block is another key's was accepted")
	}
}

// TestTokenLocationFromHeader: Hasura reads "header" as
// {"type":"Authorization"}, {"type":"Cookie","name":…} or
// {"type":"CustomHeader","name":…}, the type without regard to case, and
// refuses any other (Server/Auth/JWT.hs, JWTHeader's FromJSON).
func TestTokenLocationFromHeader(t *testing.T) {
	for header, want := range map[string]TokenLocation{
		``:                         {Kind: LocationAuthorization},
		`{"type":"Authorization"}`: {Kind: LocationAuthorization},
		`{"type":"authorization","name":"ignored"}`: {Kind: LocationAuthorization},
		`{"type":"Cookie","name":"jwt"}`:            {Kind: LocationCookie, Name: "jwt"},
		`{"type":"cookie","name":"__Host-at"}`:      {Kind: LocationCookie, Name: "__Host-at"},
		`{"type":"CustomHeader","name":"X-Token"}`:  {Kind: LocationCustomHeader, Name: "X-Token"},
	} {
		secret := `{"type":"HS256","key":"` + testSecret + `"`
		if header != "" {
			secret += `,"header":` + header
		}
		cfg, err := ParseConfig(secret+"}", "")
		if err != nil || cfg.TokenLocation() != want {
			t.Errorf("header %s: %+v (%v), want %+v", header, cfg.TokenLocation(), err, want)
		}
	}
	for _, header := range []string{`"Authorization"`, `{}`, `{"type":"Bearer"}`, `{"type":"Cookie"}`,
		`{"type":"Cookie","name":""}`, `{"type":"CustomHeader","name":"X Token"}`, `{"type":"Cookie","name":7}`} {
		if _, err := ParseConfig(`{"type":"HS256","key":"`+testSecret+`","header":`+header+`}`, ""); err == nil ||
			!strings.Contains(err.Error(), "header") {
			t.Errorf("header %s: %v, want a refusal naming header", header, err)
		}
	}
}

// TestClaimsMap: with claims_map, Hasura reads each session variable from a
// path of the whole claim set, or a default, or a fixed value
// (Server/Auth/JWT.hs, parseClaimsMap's JCMap branch), and requires
// x-hasura-allowed-roles and x-hasura-default-role (JWTCustomClaimsMap's
// FromJSON). authgate puts each claim where the map points, so a project
// that uses claims_map adopts authgate unchanged.
func TestClaimsMap(t *testing.T) {
	claimsMap := map[string]any{
		"x-hasura-user-id":       map[string]any{"path": "$.sub"},
		"x-hasura-session-id":    map[string]any{"path": "$.sid"},
		"x-hasura-allowed-roles": map[string]any{"path": "$.app.roles"},
		"x-hasura-default-role":  map[string]any{"path": "$.app.role", "default": "user"},
		"X-Hasura-Org-Id":        map[string]any{"path": "$.app['org id']"},
	}
	cfg := mustConfig(t, hasuraJSON(t, map[string]any{"type": "HS256", "key": testSecret, "claims_map": claimsMap}), "")
	issuer := newTestIssuer(cfg, clock.NewFake(startTime()))
	tok, err := issuer.Issue(sampleClaims())
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	_, payload, _ := segments(t, tok.Value)
	c := sampleClaims()
	app := obj(payload["app"])
	if payload["sub"] != c.UserID || payload["sid"] != c.SessionID || app["role"] != "user" ||
		!reflect.DeepEqual(app["roles"], []any{"user", "editor"}) || app["org id"] != "42" {
		t.Fatalf("payload %v: claims not where the map points", payload)
	}
	if _, ok := payload[defaultNamespace]; ok {
		t.Errorf("payload %v also carries the default namespace", payload)
	}
	v, err := issuer.Verify(tok.Value)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	c.Custom = map[string]string{"x-hasura-org-id": "42"} // x-hasura-plan is not mapped: Hasura would not see it
	if want := (Verified{Claims: c, ID: tok.ID, IssuedAt: tok.IssuedAt, ExpiresAt: tok.ExpiresAt}); !reflect.DeepEqual(v, want) {
		t.Errorf("Verify = %+v, want %+v", v, want)
	}

	// A default stands in for a missing claim, as in Hasura.
	h, p, _ := segments(t, tok.Value)
	delete(obj(p["app"]), "role")
	v, err = issuer.Verify(sign(t, cfg.keys[0].method, cfg.keys[0].sign, h, p))
	if err != nil || v.DefaultRole != "user" {
		t.Errorf("without app.role: %+v %v, want the default role user", v, err)
	}

	// Printed back as given, for Hasura.
	if out, err := cfg.HasuraJWTSecret(""); err != nil || !strings.Contains(out, `"claims_map":{`) || strings.Contains(out, "claims_namespace") {
		t.Errorf("hasura-config printed %s (%v)", out, err)
	}
}

// TestClaimsMapFixedValues: a fixed value is what Hasura uses for every
// token; authgate writes nothing for it and reads it back as Hasura does.
func TestClaimsMapFixedValues(t *testing.T) {
	cfg := mustConfig(t, `{"type":"HS256","key":"`+testSecret+`","claims_map":{"x-hasura-user-id":{"path":"$.sub"},"x-hasura-allowed-roles":["user"],"x-hasura-default-role":"user"}}`, "")
	if w := strings.Join(cfg.Warnings(), " "); !strings.Contains(w, "fixed value") {
		t.Errorf("warnings %q, want one about the fixed roles", w)
	}
	issuer := newTestIssuer(cfg, clock.NewFake(startTime()))
	c := sampleClaims()
	c.DefaultRole, c.AllowedRoles = "editor", []string{"editor"}
	tok, err := issuer.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	v, err := issuer.Verify(tok.Value)
	if err != nil || v.DefaultRole != "user" || !reflect.DeepEqual(v.AllowedRoles, []string{"user"}) || v.SessionID != c.SessionID {
		t.Errorf("Verify = %+v, %v; want the fixed roles and the session from sid", v, err)
	}
}

// TestClaimsMapRefusals: what Hasura refuses, and maps authgate cannot
// issue tokens for (paths that collide, fixed ids), stop start-up with one
// line naming the setting.
func TestClaimsMapRefusals(t *testing.T) {
	roles := `"x-hasura-allowed-roles":{"path":"$.roles"},"x-hasura-default-role":{"path":"$.role"}`
	for name, tc := range map[string]struct{ claimsMap, want string }{
		"not an object":                  {`["x"]`, "claims_map must be a JSON object"},
		"no allowed roles":               {`{"x-hasura-default-role":"user"}`, "needs x-hasura-allowed-roles"},
		"no default role":                {`{"x-hasura-allowed-roles":["user"]}`, "needs x-hasura-default-role"},
		"an object without path":         {`{` + roles + `,"x-hasura-user-id":{"default":"x"}}`, `must hold "path"`},
		"a bad path":                     {`{` + roles + `,"x-hasura-user-id":{"path":"$.1sub"}}`, "path"},
		"a fixed user id":                {`{` + roles + `,"x-hasura-user-id":"u1"}`, "fixed value would be every user's"},
		"x-hasura-role":                  {`{` + roles + `,"x-hasura-role":{"path":"$.r"}}`, "per request"},
		"allowed roles not a list":       {`{"x-hasura-allowed-roles":"user","x-hasura-default-role":"user"}`, "list of role names"},
		"a name twice":                   {`{` + roles + `,"x-hasura-org":{"path":"$.a"},"X-Hasura-Org":{"path":"$.b"}}`, "named twice"},
		"a path onto a registered claim": {`{"x-hasura-allowed-roles":{"path":"$.roles"},"x-hasura-default-role":{"path":"$.sub"}}`, "x-hasura-default-role"},
		"a path onto the issued-at time": {`{` + roles + `,"x-hasura-org":{"path":"$.iat"}}`, "x-hasura-org"},
		"a path inside another claim's":  {`{"x-hasura-allowed-roles":{"path":"$.a"},"x-hasura-default-role":{"path":"$.a.b"}}`, "where another claim is"},
		"fixed roles that do not fit":    {`{"x-hasura-allowed-roles":["user"],"x-hasura-default-role":"admin"}`, "not among"},
		"a path that starts at an index": {`{` + roles + `,"x-hasura-org":{"path":"$[0]"}}`, "must start with a name"},
	} {
		_, err := ParseConfig(`{"type":"HS256","key":"`+testSecret+`","claims_map":`+tc.claimsMap+`}`, "")
		if err == nil || !strings.Contains(err.Error(), "HASURA_GRAPHQL_JWT_SECRET") || !strings.Contains(err.Error(), tc.want) ||
			strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("%s: %v, want one line saying %q", name, err, tc.want)
		}
	}
	// A user without a mapped custom claim that has no default cannot get a
	// token Hasura would take: Issue says so.
	cfg := mustConfig(t, `{"type":"HS256","key":"`+testSecret+`","claims_map":{`+roles+`,"x-hasura-team":{"path":"$.team"}}}`, "")
	if _, err := newTestIssuer(cfg, clock.NewFake(startTime())).Issue(sampleClaims()); err == nil || !strings.Contains(err.Error(), "x-hasura-team") {
		t.Errorf("Issue without x-hasura-team: %v", err)
	}
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// FuzzJSONPath: what parseJSONPath accepts, written back by String, reads
// back as the same path, as Hasura's own test of its parser checks
// (src-test/Data/Parser/JSONPathSpec.hs, "encode and parse JSONPath"); and
// nothing panics.
func FuzzJSONPath(f *testing.F) {
	for _, seed := range []string{"$", "$.a", "a.b[0]", `$['7seven'][0]['@!^@*#(!(']`, `$["a\"b"].c`, "$.1claims", "$['", "é.x-1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		path, err := parseJSONPath(text)
		if err != nil {
			return
		}
		again, err := parseJSONPath(path.String())
		if err != nil || !reflect.DeepEqual(again, path) {
			t.Fatalf("%q parses to %v, written %q, which reads back as %v (%v)", text, path, path.String(), again, err)
		}
	})
}
