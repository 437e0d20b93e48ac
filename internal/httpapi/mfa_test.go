package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
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

// TestPasskeysOverGraphQLAndActions registers a passkey over /graphql and
// signs in with it over /actions (a public action), as JSON both ways.
func TestPasskeysOverGraphQLAndActions(t *testing.T) {
	s := newServer(t, httpapi.Config{})
	p := s.signup(t, "a@example.com", "correct horse")
	a := authtest.NewAuthenticator(authtest.PasskeyOrigin)

	var options json.RawMessage
	s.graphql(t, `mutation { beginPasskeyRegistration }`, nil, bearer(p.AccessToken)...).into(t, "beginPasskeyRegistration", &options)
	cred, err := a.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	var pk struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	s.graphql(t, `mutation($c: JSON!) { finishPasskeyRegistration(credential: $c, name: "Laptop") { id name } }`,
		map[string]any{"c": json.RawMessage(cred)}, bearer(p.AccessToken)...).into(t, "finishPasskeyRegistration", &pk)
	if pk.Name != "Laptop" || pk.ID == "" {
		t.Fatalf("passkey %+v", pk)
	}

	status, raw := s.action(t, "beginPasskeySignIn", map[string]any{"email": "a@example.com"}, map[string]string{"x-hasura-role": "anonymous"})
	if status != http.StatusOK {
		t.Fatalf("beginPasskeySignIn: %d %s", status, raw)
	}
	assertion, err := a.Get(raw)
	if err != nil {
		t.Fatal(err)
	}
	status, raw = s.action(t, "finishPasskeySignIn", map[string]any{"credential": json.RawMessage(assertion)}, map[string]string{"x-hasura-role": "anonymous"})
	var done map[string]any
	decodeJSON(t, raw, &done)
	if status != http.StatusOK {
		t.Fatalf("finishPasskeySignIn: %d %s", status, raw)
	}
	claims := jwtClaims(t, done["accessToken"].(string))
	if ns, _ := claims["https://hasura.io/jwt/claims"].(map[string]any); ns["x-hasura-auth-level"] != "2" {
		t.Fatalf("claims %v", claims)
	}
	if u := done["user"].(map[string]any); len(u["passkeys"].([]any)) != 1 {
		t.Fatalf("user %v", u)
	}
	// The same assertion again: the ceremony is used up.
	status, raw = s.action(t, "finishPasskeySignIn", map[string]any{"credential": json.RawMessage(assertion)}, nil)
	var refused actionErrorBody
	decodeJSON(t, raw, &refused)
	if status != http.StatusUnauthorized || refused.Extensions.Code != "INVALID_PASSKEY" {
		t.Fatalf("replayed assertion: %d %s", status, raw)
	}
}

// TestActionAnswersCarryFactorsOnlyWhenTheQueryCanAsk: Hasura sends the
// client's query; a refresh that selects no second-factor field costs no
// lookup and carries none.
func TestActionAnswersCarryFactorsOnlyWhenTheQueryCanAsk(t *testing.T) {
	s := newServer(t, httpapi.Config{})
	p := s.signup(t, "a@example.com", "correct horse")
	refresh := func(query string, tok string) map[string]any {
		body, err := json.Marshal(map[string]any{"action": map[string]any{"name": "refreshToken"},
			"input": map[string]any{"refreshToken": tok}, "session_variables": map[string]string{"x-hasura-role": "anonymous"},
			"request_query": query})
		if err != nil {
			t.Fatal(err)
		}
		status, raw := s.do(t, http.MethodPost, "/actions", body, "Content-Type", "application/json", "X-Action-Secret", actionSecret)
		if status != http.StatusOK {
			t.Fatalf("%d %s", status, raw)
		}
		var out map[string]any
		decodeJSON(t, raw, &out)
		return out
	}
	plain := refresh(`mutation { refreshToken(refreshToken: "…") { accessToken refreshToken user { id } } }`, p.RefreshToken)
	if _, ok := plain["user"].(map[string]any)["totpEnabled"]; ok {
		t.Fatalf("factors answered though not asked: %v", plain["user"])
	}
	asked := refresh(`mutation { refreshToken(refreshToken: "…") { refreshToken user { totpEnabled passkeys { id } } } }`, plain["refreshToken"].(string))
	if u := asked["user"].(map[string]any); u["totpEnabled"] != false || u["passkeys"] == nil {
		t.Fatalf("factors not answered though asked: %v", u)
	}
}
