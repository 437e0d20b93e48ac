package httpapi_test

import (
	"slices"
	"testing"
	"time"

	"authgate/internal/auth"
)

// An emailed link is one factor: a user with TOTP who follows it gets
// MFA_REQUIRED, and the session the second factor completes says both
// methods in its amr (["email","otp"]) and level 2 to Hasura.
func TestAnEmailedSignInOfATOTPUserNeedsTheSecondFactor(t *testing.T) {
	s := newMailServer(t, nil)
	p := s.signup(t, "bo@example.com", "correct horse")
	var e struct {
		Secret string `json:"secret"`
	}
	s.graphql(t, `mutation { enrollTotp { secret } }`, nil, bearer(p.AccessToken)...).into(t, "enrollTotp", &e)
	var codes []string
	s.graphql(t, `mutation($c: String!) { confirmTotp(code: $c) }`, map[string]any{"c": totpNow(t, s.server, e.Secret)}, bearer(p.AccessToken)...).
		into(t, "confirmTotp", &codes)
	s.env.Clock.Advance(30 * time.Second)
	s.mails(t) // sign-up's verification mail

	var ok bool
	s.gql(t, `mutation { requestEmailSignIn(email: "bo@example.com", redirectTo: "https://app.example.com/welcome") }`, nil, "requestEmailSignIn", &ok)
	token := linkToken(t, s.oneMail(t, "bo@example.com"), "https://app.example.com/welcome", "signin")
	r := s.graphql(t, `mutation($t: String!) { signInWithEmailToken(token: $t) { accessToken } }`, map[string]any{"t": token})
	r.wantCode(t, auth.CodeMFARequired)
	ticket, _ := r.Errors[0].Extensions["ticket"].(string)
	if ticket == "" {
		t.Fatalf("MFA_REQUIRED without a ticket: %v", r.Errors[0].Extensions)
	}
	// The link is spent by the first half: it does not open a session again.
	s.graphql(t, `mutation($t: String!) { signInWithEmailToken(token: $t) { accessToken } }`, map[string]any{"t": token}).
		wantCode(t, auth.CodeInvalidEmailToken)

	var done struct {
		AccessToken string `json:"accessToken"`
	}
	s.graphql(t, `mutation($t: String!, $c: String) { completeMfa(ticket: $t, code: $c) { accessToken } }`,
		map[string]any{"t": ticket, "c": totpNow(t, s.server, e.Secret)}).into(t, "completeMfa", &done)
	claims := jwtClaims(t, done.AccessToken)
	var amr []string
	for _, m := range claims["amr"].([]any) {
		amr = append(amr, m.(string))
	}
	ns, _ := claims["https://hasura.io/jwt/claims"].(map[string]any)
	if !slices.Equal(amr, []string{"email", "otp"}) || ns["x-hasura-auth-level"] != "2" {
		t.Fatalf("amr %v, level %v", amr, ns["x-hasura-auth-level"])
	}
}
