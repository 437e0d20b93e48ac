package token

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/internal/clock"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	keys := newTestKeys(t)
	layouts := []struct {
		name        string
		settings    map[string]any
		path        []string
		stringified bool
	}{
		{"default namespace", nil, []string{defaultNamespace}, false},
		{"default namespace as stringified json", map[string]any{"claims_format": "stringified_json"}, []string{defaultNamespace}, true},
		{"explicit json format", map[string]any{"claims_format": "json"}, []string{defaultNamespace}, false},
		{"custom claims_namespace", map[string]any{"claims_namespace": "https://example.com/claims"}, []string{"https://example.com/claims"}, false},
		{"custom claims_namespace as stringified json", map[string]any{"claims_namespace": "claims", "claims_format": "stringified_json"}, []string{"claims"}, true},
		{"nested claims_namespace_path", map[string]any{"claims_namespace_path": "$.hasura.claims"}, []string{"hasura", "claims"}, false},
		{"nested claims_namespace_path as stringified json", map[string]any{"claims_namespace_path": "$.hasura.claims", "claims_format": "stringified_json"}, []string{"hasura", "claims"}, true},
		{"bracketed claims_namespace_path", map[string]any{"claims_namespace_path": "$['https://example.com/jwt'].hasura"}, []string{"https://example.com/jwt", "hasura"}, false},
		{"top-level claims_namespace_path", map[string]any{"claims_namespace_path": "$"}, nil, false},
	}
	audiences := []struct {
		name     string
		settings map[string]any
	}{
		{"without issuer or audience", nil},
		{"with issuer and one audience", map[string]any{"issuer": "https://auth.example.com", "audience": "hasura"}},
		{"with issuer and an audience list", map[string]any{"issuer": "https://auth.example.com", "audience": []string{"hasura", "reports"}}},
	}

	for _, typ := range allTypes() {
		for _, layout := range layouts {
			for _, aud := range audiences {
				t.Run(typ+"/"+layout.name+"/"+aud.name, func(t *testing.T) {
					settings := map[string]any{}
					maps.Copy(settings, layout.settings)
					maps.Copy(settings, aud.settings)
					cfg := configFor(t, keys, typ, settings)
					clk := clock.NewFake(startTime().Add(123456 * time.Microsecond))
					issuer := NewIssuer(cfg, clk, &countingReader{}, testTTL)

					tok, err := issuer.Issue(sampleClaims())
					if err != nil {
						t.Fatalf("Issue: %v", err)
					}
					wantID := b64([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
					if tok.ID != wantID || !tok.IssuedAt.Equal(startTime()) || !tok.ExpiresAt.Equal(startTime().Add(testTTL)) {
						t.Fatalf("Token = %+v; want ID %s issued %v", tok, wantID, startTime())
					}

					header, payload, _ := segments(t, tok.Value)
					wantAlg := typ
					if typ == "Ed25519" {
						wantAlg = "EdDSA"
					}
					wantHeader := map[string]any{"alg": wantAlg, "typ": "JWT", "kid": cfg.keys[0].id}
					if !reflect.DeepEqual(header, wantHeader) {
						t.Errorf("header = %v; want %v", header, wantHeader)
					}
					checkPayload(t, payload, aud.settings, tok)
					namespace := namespaceAt(t, payload, layout.path, layout.stringified)
					wantNamespace := map[string]any{
						"x-hasura-user-id":       sampleClaims().UserID,
						"x-hasura-session-id":    sampleClaims().SessionID,
						"x-hasura-default-role":  "user",
						"x-hasura-allowed-roles": []any{"user", "editor"},
						"x-hasura-org-id":        "42",
						"x-hasura-plan":          "pro",
					}
					if len(layout.path) == 0 {
						namespace = hasuraMembers(namespace)
					}
					if !reflect.DeepEqual(namespace, wantNamespace) {
						t.Errorf("namespace = %v; want %v", namespace, wantNamespace)
					}

					got, err := issuer.Verify(tok.Value)
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					want := Verified{Claims: sampleClaims(), ID: tok.ID, IssuedAt: tok.IssuedAt, ExpiresAt: tok.ExpiresAt}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("Verify = %+v; want %+v", got, want)
					}
				})
			}
		}
	}
}

// checkPayload checks the registered claims of an issued token.
func checkPayload(t *testing.T, payload map[string]any, settings map[string]any, tok Token) {
	t.Helper()
	c := sampleClaims()
	want := map[string]any{
		"sub":       c.UserID,
		"sid":       c.SessionID,
		"jti":       tok.ID,
		"iat":       float64(tok.IssuedAt.Unix()),
		"exp":       float64(tok.ExpiresAt.Unix()),
		"auth_time": float64(c.AuthTime.Unix()),
	}
	if iss, ok := settings["issuer"]; ok {
		want["iss"] = iss
	}
	switch aud := settings["audience"].(type) {
	case string:
		want["aud"] = aud
	case []string:
		list := make([]any, len(aud))
		for n, a := range aud {
			list[n] = a
		}
		want["aud"] = list
	}
	for name, value := range want {
		if !reflect.DeepEqual(payload[name], value) {
			t.Errorf("payload %s = %#v; want %#v", name, payload[name], value)
		}
	}
	for _, absent := range []string{"nbf", "iss", "aud"} {
		if _, wanted := want[absent]; !wanted {
			if _, ok := payload[absent]; ok {
				t.Errorf("payload has %s; want none", absent)
			}
		}
	}
}

// namespaceAt walks a decoded payload down path, independently of the
// package's own reading.
func namespaceAt(t *testing.T, payload map[string]any, path []string, stringified bool) map[string]any {
	t.Helper()
	var current any = payload
	for _, step := range path {
		obj, ok := current.(map[string]any)
		if !ok {
			t.Fatalf("payload at %q is %T; want an object", step, current)
		}
		current = obj[step]
	}
	if stringified {
		text, ok := current.(string)
		if !ok {
			t.Fatalf("stringified namespace is %T; want a string", current)
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(text), &obj); err != nil {
			t.Fatal(err)
		}
		return obj
	}
	obj, ok := current.(map[string]any)
	if !ok {
		t.Fatalf("namespace is %T; want an object", current)
	}
	return obj
}

func hasuraMembers(obj map[string]any) map[string]any {
	out := map[string]any{}
	for name, value := range obj {
		if strings.HasPrefix(name, "x-hasura-") {
			out[name] = value
		}
	}
	return out
}

func TestIssueClaimsShape(t *testing.T) {
	cfg := mustConfig(t, `{"type":"HS256","key":"`+testSecret+`"}`, "")
	issuer := newTestIssuer(cfg, clock.NewFake(startTime()))

	tests := []struct {
		name  string
		in    Claims
		check func(t *testing.T, in Claims, got Verified, payload map[string]any)
	}{
		{
			name: "default role is added to allowed roles without touching the caller's slice",
			in:   Claims{UserID: "u", SessionID: "s", DefaultRole: "user", AllowedRoles: make([]string, 1, 4)[:1]},
			check: func(t *testing.T, in Claims, got Verified, _ map[string]any) {
				if want := []string{"", "user"}; !slices.Equal(got.AllowedRoles, want) {
					t.Errorf("AllowedRoles = %q; want %q", got.AllowedRoles, want)
				}
				if spare := in.AllowedRoles[:2]; spare[1] != "" {
					t.Errorf("Issue wrote %q into the caller's backing array", spare[1])
				}
			},
		},
		{
			name: "default role already allowed is not repeated",
			in:   Claims{UserID: "u", SessionID: "s", DefaultRole: "user", AllowedRoles: []string{"admin", "user"}},
			check: func(t *testing.T, _ Claims, got Verified, _ map[string]any) {
				if want := []string{"admin", "user"}; !slices.Equal(got.AllowedRoles, want) {
					t.Errorf("AllowedRoles = %q; want %q", got.AllowedRoles, want)
				}
			},
		},
		{
			name: "zero auth time is left out",
			in:   Claims{UserID: "u", SessionID: "s", DefaultRole: "user"},
			check: func(t *testing.T, _ Claims, got Verified, payload map[string]any) {
				if _, ok := payload["auth_time"]; ok {
					t.Error("payload has auth_time")
				}
				if !got.AuthTime.IsZero() || got.Custom != nil {
					t.Errorf("AuthTime %v, Custom %v; want zero and nil", got.AuthTime, got.Custom)
				}
			},
		},
		{
			name: "auth time is whole unix seconds",
			in:   Claims{UserID: "u", SessionID: "s", DefaultRole: "user", AuthTime: startTime().Add(-90*time.Second + 700*time.Millisecond)},
			check: func(t *testing.T, _ Claims, got Verified, payload map[string]any) {
				if want := startTime().Add(-90 * time.Second); !got.AuthTime.Equal(want) || got.AuthTime.Location() != time.UTC {
					t.Errorf("AuthTime = %v; want %v", got.AuthTime, want)
				}
			},
		},
		{
			name: "values with quotes and unicode survive",
			in:   Claims{UserID: `u"1\`, SessionID: "s", DefaultRole: "rôle", Custom: map[string]string{"x-hasura-note": "</script>&\u2028"}},
			check: func(t *testing.T, in Claims, got Verified, _ map[string]any) {
				if got.UserID != in.UserID || got.DefaultRole != in.DefaultRole || !maps.Equal(got.Custom, in.Custom) {
					t.Errorf("Verify = %+v; want %+v", got.Claims, in)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := issuer.Issue(tt.in)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			got, err := issuer.Verify(tok.Value)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			_, payload, _ := segments(t, tok.Value)
			tt.check(t, tt.in, got, payload)
		})
	}
}

func TestIssueRefusals(t *testing.T) {
	cfg := mustConfig(t, `{"type":"HS256","key":"`+testSecret+`"}`, "")
	good := Claims{UserID: "u", SessionID: "s", DefaultRole: "user"}
	with := func(change func(*Claims)) Claims {
		c := good
		change(&c)
		return c
	}
	tests := []struct {
		name   string
		in     Claims
		random io.Reader
		want   string
	}{
		{"missing user id is refused", with(func(c *Claims) { c.UserID = "" }), nil, "UserID"},
		{"missing session id is refused", with(func(c *Claims) { c.SessionID = "" }), nil, "SessionID"},
		{"missing default role is refused", with(func(c *Claims) { c.DefaultRole = "" }), nil, "DefaultRole"},
		{"custom name outside x-hasura- is refused", with(func(c *Claims) { c.Custom = map[string]string{"role": "admin"} }), nil, `"role"`},
		{"custom name in upper case is refused", with(func(c *Claims) { c.Custom = map[string]string{"X-Hasura-Org": "1"} }), nil, `"X-Hasura-Org"`},
		{"custom cannot override the user id", with(func(c *Claims) { c.Custom = map[string]string{"x-hasura-user-id": "other"} }), nil, "x-hasura-user-id"},
		{"custom cannot set the per-request role", with(func(c *Claims) { c.Custom = map[string]string{"x-hasura-role": "admin"} }), nil, "x-hasura-role"},
		{"custom cannot override allowed roles", with(func(c *Claims) { c.Custom = map[string]string{"x-hasura-allowed-roles": "admin"} }), nil, "x-hasura-allowed-roles"},
		{"token over the size limit is refused", with(func(c *Claims) { c.Custom = map[string]string{"x-hasura-blob": strings.Repeat("a", MaxTokenBytes)} }), nil, "over the"},
		{"failing randomness is reported", good, failingReader{}, "entropy source broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer := NewIssuer(cfg, clock.NewFake(startTime()), tt.random, testTTL)
			_, err := issuer.Issue(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Issue error = %v; want one mentioning %s", err, tt.want)
			}
		})
	}
}

func TestVerifyTimes(t *testing.T) {
	tests := []struct {
		name        string
		skewSeconds int
		advance     time.Duration
		wantErr     error
	}{
		{"valid just before expiry", 0, testTTL - time.Second, nil},
		{"expired at exp", 0, testTTL, ErrExpired},
		{"expired after exp", 0, testTTL + time.Hour, ErrExpired},
		{"accepted within allowed_skew after exp", 30, testTTL + 29*time.Second, nil},
		{"expired beyond allowed_skew", 30, testTTL + 30*time.Second, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustConfig(t, hasuraJSON(t, map[string]any{"type": "HS256", "key": testSecret, "allowed_skew": tt.skewSeconds}), "")
			if cfg.AllowedSkew() != time.Duration(tt.skewSeconds)*time.Second {
				t.Fatalf("AllowedSkew = %v", cfg.AllowedSkew())
			}
			clk := clock.NewFake(startTime())
			issuer := newTestIssuer(cfg, clk)
			tok, err := issuer.Issue(sampleClaims())
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(tt.advance)
			_, err = issuer.Verify(tok.Value)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Verify: %v", err)
			case tt.wantErr != nil && (!errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalidToken)):
				t.Fatalf("Verify error = %v; want %v and ErrInvalidToken", err, tt.wantErr)
			}
		})
	}
}

func TestNewIssuerTTL(t *testing.T) {
	cfg := mustConfig(t, `{"type":"HS256","key":"`+testSecret+`"}`, "")
	issuer := NewIssuer(cfg, clock.NewFake(startTime()), nil, 90*time.Second+400*time.Millisecond)
	if issuer.TTL() != 90*time.Second {
		t.Fatalf("TTL = %v; want 1m30s", issuer.TTL())
	}
	tok, err := issuer.Issue(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.ExpiresAt.Sub(tok.IssuedAt); got != 90*time.Second {
		t.Fatalf("exp - iat = %v; want 1m30s", got)
	}
}

func TestIssuerIsSafeForConcurrentUse(t *testing.T) {
	keys := testKeys{ed: edKeyFromSeed(t, 1)}
	cfg := configFor(t, keys, "Ed25519", nil)
	clk := clock.NewFake(startTime())
	issuer := newTestIssuer(cfg, clk)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				tok, err := issuer.Issue(sampleClaims())
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := issuer.Verify(tok.Value); err != nil {
					t.Error(err)
					return
				}
				clk.Advance(time.Millisecond)
			}
		})
	}
	wg.Wait()
}
