package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"slices"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/httpapi"
	"authgate/internal/mfa"
)

func totpNow(t *testing.T, s *server, secret string) string {
	t.Helper()
	code, err := mfa.TOTPCode(secret, mfa.TOTPStep(s.env.Clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestTOTPOverGraphQLAndActions walks TOTP through both doors: enrol and
// confirm on /graphql, MFA_REQUIRED with its ticket and methods on both,
// completeMfa on /actions, and the level in the token.
func TestTOTPOverGraphQLAndActions(t *testing.T) {
	s := newServer(t, httpapi.Config{})
	p := s.signup(t, "a@example.com", "correct horse")

	var e struct {
		Secret     string `json:"secret"`
		OtpauthURL string `json:"otpauthUrl"`
		QRCodePng  string `json:"qrCodePng"`
	}
	s.graphql(t, `mutation { enrollTotp { secret otpauthUrl qrCodePng } }`, nil, bearer(p.AccessToken)...).into(t, "enrollTotp", &e)
	if png, err := base64.StdEncoding.DecodeString(e.QRCodePng); err != nil || len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("qrCodePng is not base64 PNG data: %v", err)
	}
	s.graphql(t, `mutation($c: String!) { confirmTotp(code: $c) }`, map[string]any{"c": "000000"}, bearer(p.AccessToken)...).
		wantCode(t, auth.CodeInvalidMFACode)
	var codes []string
	s.graphql(t, `mutation($c: String!) { confirmTotp(code: $c) }`, map[string]any{"c": totpNow(t, s, e.Secret)}, bearer(p.AccessToken)...).
		into(t, "confirmTotp", &codes)
	if len(codes) != 10 {
		t.Fatalf("recovery codes %v", codes)
	}
	var me struct {
		TotpEnabled bool  `json:"totpEnabled"`
		Passkeys    []any `json:"passkeys"`
	}
	s.graphql(t, `{ me { totpEnabled passkeys { id } } }`, nil, bearer(p.AccessToken)...).into(t, "me", &me)
	if !me.TotpEnabled || me.Passkeys == nil {
		t.Fatalf("me %+v", me)
	}
	s.env.Clock.Advance(30 * time.Second)

	// /graphql: MFA_REQUIRED carries the ticket and the methods.
	r := s.graphql(t, `mutation { login(identifier: "a@example.com", password: "correct horse") { accessToken } }`, nil)
	r.wantCode(t, auth.CodeMFARequired)
	ticket, _ := r.Errors[0].Extensions["ticket"].(string)
	methods, _ := r.Errors[0].Extensions["methods"].([]any)
	if ticket == "" || len(methods) != 2 || methods[0] != "totp" || methods[1] != "recovery_code" {
		t.Fatalf("MFA_REQUIRED extensions %v", r.Errors[0].Extensions)
	}
	// /actions: the same answer, with a 4xx Hasura passes through.
	status, raw := s.action(t, "login", map[string]any{"identifier": "a@example.com", "password": "correct horse"}, nil)
	var failed struct {
		Extensions struct {
			Code    string   `json:"code"`
			Ticket  string   `json:"ticket"`
			Methods []string `json:"methods"`
		} `json:"extensions"`
	}
	decodeJSON(t, raw, &failed)
	if status != http.StatusUnauthorized || failed.Extensions.Code != "MFA_REQUIRED" || failed.Extensions.Ticket == "" ||
		!slices.Equal(failed.Extensions.Methods, []string{"totp", "recovery_code"}) {
		t.Fatalf("actions login: %d %s", status, raw)
	}
	// A wrong code on /actions: 401 INVALID_MFA_CODE, reason code.
	status, raw = s.action(t, "completeMfa", map[string]any{"ticket": failed.Extensions.Ticket, "code": "000000"}, nil)
	var wrong actionErrorBody
	decodeJSON(t, raw, &wrong)
	if status != http.StatusUnauthorized || wrong.Extensions.Code != "INVALID_MFA_CODE" || wrong.Extensions.Reason != "code" {
		t.Fatalf("wrong code: %d %s", status, raw)
	}
	status, raw = s.action(t, "completeMfa", map[string]any{"ticket": failed.Extensions.Ticket, "code": totpNow(t, s, e.Secret)}, nil)
	var done map[string]any
	decodeJSON(t, raw, &done)
	if status != http.StatusOK {
		t.Fatalf("completeMfa: %d %s", status, raw)
	}
	claims := jwtClaims(t, done["accessToken"].(string))
	ns, _ := claims["https://hasura.io/jwt/claims"].(map[string]any)
	if ns["x-hasura-auth-level"] != "2" || len(claims["amr"].([]any)) != 2 {
		t.Fatalf("token claims %v", claims)
	}
	if u := done["user"].(map[string]any); u["totpEnabled"] != true {
		t.Fatalf("user %v", u)
	}
	// The GraphQL ticket is another, still alive: a recovery code finishes it.
	var viaGraphQL struct {
		AccessToken string `json:"accessToken"`
	}
	s.graphql(t, `mutation($t: String!, $r: String) { completeMfa(ticket: $t, recoveryCode: $r) { accessToken } }`,
		map[string]any{"t": ticket, "r": codes[0]}).into(t, "completeMfa", &viaGraphQL)
	if jwtClaims(t, viaGraphQL.AccessToken)["amr"].([]any)[1] != "rec" {
		t.Fatal("recovery sign-in amr")
	}
}

type actionErrorBody struct {
	Message    string `json:"message"`
	Extensions struct {
		Code   string `json:"code"`
		Reason string `json:"reason"`
	} `json:"extensions"`
}
