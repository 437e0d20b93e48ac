package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
)

// actionBody is a request shaped the way Hasura calls an action handler.
func actionBody(t *testing.T, name string, input any, vars map[string]string) []byte {
	t.Helper()
	if vars == nil {
		vars = map[string]string{"x-hasura-role": "anonymous"}
	}
	body, err := json.Marshal(map[string]any{
		"action":            map[string]any{"name": name},
		"input":             input,
		"session_variables": vars,
		// Selecting everything, the second factors too (see TestActionAnswersCarryFactorsOnlyWhenTheQueryCanAsk).
		"request_query": "mutation { " + name + " { __typename user { totpEnabled passkeys { id } } } }",
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// action calls POST /actions with the right secret and extra headers.
func (s *server) action(t *testing.T, name string, input any, vars map[string]string, header ...string) (int, []byte) {
	t.Helper()
	return s.do(t, http.MethodPost, "/actions", actionBody(t, name, input, vars),
		append([]string{"Content-Type", "application/json", "X-Action-Secret", actionSecret}, header...)...)
}

// userVars are the session variables Hasura sends for a signed-in user.
func userVars(p map[string]any) map[string]string {
	return map[string]string{
		"x-hasura-role":       "user",
		"x-hasura-user-id":    p["user"].(map[string]any)["id"].(string),
		"x-hasura-session-id": p["sessionId"].(string),
	}
}

func decodeJSON(t *testing.T, raw []byte, dst any) {
	t.Helper()
	if err := json.Unmarshal(raw, dst); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, raw)
	}
}

// wantPayload checks an action's AuthPayload body key for key and value for
// value: the tokens and ids are checked for shape, everything else exactly.
func wantPayload(t *testing.T, status int, raw []byte, email string, issued, refreshExpires time.Time) map[string]any {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", status, raw)
	}
	var got map[string]any
	decodeJSON(t, raw, &got)
	user, _ := got["user"].(map[string]any)
	access, _ := got["accessToken"].(string)
	refresh, _ := got["refreshToken"].(string)
	sid, _ := got["sessionId"].(string)
	uid, _ := user["id"].(string)
	if strings.Count(access, ".") != 2 || authtest.Generation(authtest.RefreshKeys(t), refresh) < 0 || !uuidPattern.MatchString(sid) || !uuidPattern.MatchString(uid) {
		t.Fatalf("tokens or ids have the wrong shape: %s", raw)
	}
	want := map[string]any{
		"accessToken":           access,
		"accessTokenExpiresAt":  issued.Add(15 * time.Minute).Format(time.RFC3339),
		"refreshToken":          refresh,
		"refreshTokenExpiresAt": refreshExpires.Format(time.RFC3339),
		"sessionId":             sid,
		"user": map[string]any{
			"id":            uid,
			"email":         email,
			"defaultRole":   "user",
			"allowedRoles":  []any{"user"},
			"createdAt":     authtest.Start.Format(time.RFC3339),
			"claims":        map[string]any{}, // User.claims in schema.graphql (custom claims)
			"totpEnabled":   false,            // User.totpEnabled and User.passkeys (issue 16)
			"passkeys":      []any{},
			"emailVerified": false,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("payload\n got %s\nwant %s", raw, mustJSON(t, want))
	}
	if claims := jwtClaims(t, access); claims["sub"] != uid || claims["sid"] != sid {
		t.Errorf("access token claims %v do not match user %s session %s", claims, uid, sid)
	}
	return got
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestActionsAnswerLikeTheGraphQLContract walks the operations through
// /actions and checks every success body exactly.
func TestActionsAnswerLikeTheGraphQLContract(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	clk := s.env.Clock
	const pw = "correct horse battery"
	start := authtest.Start
	refreshTTL := 30 * 24 * time.Hour

	status, raw := s.action(t, "signup", map[string]any{"email": "Hana@Example.com", "password": pw}, nil,
		"User-Agent", "Hasura/2.0", "X-Forwarded-User-Agent", "browser-signup")
	signedUp := wantPayload(t, status, raw, "hana@example.com", start, start.Add(refreshTTL))

	clk.Advance(time.Minute)
	status, raw = s.action(t, "login", map[string]any{"identifier": "hana@example.com", "password": pw, "description": "phone"}, nil,
		"User-Agent", "Hasura/2.0", "X-Forwarded-User-Agent", "browser-login")
	loggedIn := wantPayload(t, status, raw, "hana@example.com", start.Add(time.Minute), start.Add(time.Minute+refreshTTL))

	clk.Advance(time.Minute)
	status, raw = s.action(t, "refreshToken", map[string]any{"refreshToken": loggedIn["refreshToken"]}, nil,
		"User-Agent", "Hasura/2.0", "X-Forwarded-User-Agent", "browser-login")
	refreshed := wantPayload(t, status, raw, "hana@example.com", start.Add(2*time.Minute), start.Add(2*time.Minute+refreshTTL))
	if refreshed["refreshToken"] == loggedIn["refreshToken"] || refreshed["sessionId"] != loggedIn["sessionId"] {
		t.Fatalf("refresh did not rotate within the session: %s", raw)
	}

	// mySessions: an array, newest first, current from x-hasura-session-id,
	// the forwarded user agent recorded rather than Hasura's own.
	status, raw = s.action(t, "mySessions", map[string]any{}, userVars(loggedIn))
	if status != http.StatusOK {
		t.Fatalf("mySessions: %d %s", status, raw)
	}
	var sessions []session
	decodeJSON(t, raw, &sessions)
	var shape []map[string]any
	decodeJSON(t, raw, &shape)
	wantKeys := []string{"createdAt", "current", "description", "expiresAt", "id", "ip", "lastActivityAt", "userAgent"}
	for _, m := range shape {
		if keys := slices.Sorted(maps.Keys(m)); !reflect.DeepEqual(keys, wantKeys) {
			t.Errorf("session keys = %v, want %v", keys, wantKeys)
		}
	}
	if len(sessions) != 2 {
		t.Fatalf("mySessions = %s, want 2 sessions", raw)
	}
	login, first := sessions[0], sessions[1]
	if login.ID != loggedIn["sessionId"] || !login.Current || first.ID != signedUp["sessionId"] || first.Current {
		t.Errorf("mySessions = %s, want the login session first and current", raw)
	}
	if login.UserAgent == nil || *login.UserAgent != "browser-login" || first.UserAgent == nil || *first.UserAgent != "browser-signup" {
		t.Errorf("user agents = %s, want the X-Forwarded-User-Agent values", raw)
	}
	if login.Description == nil || *login.Description != "phone" || first.Description != nil {
		t.Errorf("descriptions = %v, %v, want phone and null", login.Description, first.Description)
	}
	if login.LastActivityAt != start.Add(2*time.Minute).Format(time.RFC3339) || login.CreatedAt != start.Add(time.Minute).Format(time.RFC3339) {
		t.Errorf("login session created %s, last active %s", login.CreatedAt, login.LastActivityAt)
	}

	// Variables Hasura sends in another case still name the caller.
	status, raw = s.action(t, "me", nil, map[string]string{"X-Hasura-Role": "user", "X-Hasura-User-Id": userVars(signedUp)["x-hasura-user-id"],
		"X-Hasura-Session-Id": userVars(signedUp)["x-hasura-session-id"]})
	var me map[string]any
	decodeJSON(t, raw, &me)
	if status != http.StatusOK || !reflect.DeepEqual(me, signedUp["user"]) {
		t.Errorf("me = %d %s, want %v", status, raw, signedUp["user"])
	}

	status, raw = s.action(t, "revokeSession", map[string]any{"id": signedUp["sessionId"]}, userVars(loggedIn))
	if status != http.StatusOK || strings.TrimSpace(string(raw)) != "true" {
		t.Errorf("revokeSession = %d %s, want 200 true", status, raw)
	}

	for name, tok := range map[string]any{"a live token": refreshed["refreshToken"], "an unknown token": strings.Repeat("A", 43)} {
		status, raw = s.action(t, "revoke", map[string]any{"refreshToken": tok}, nil)
		if status != http.StatusOK || strings.TrimSpace(string(raw)) != "true" {
			t.Errorf("revoke of %s = %d %s, want 200 true", name, status, raw)
		}
	}
	status, raw = s.action(t, "refreshToken", map[string]any{"refreshToken": refreshed["refreshToken"]}, nil)
	wantActionError(t, status, raw, http.StatusUnauthorized, auth.CodeInvalidRefreshToken)

	var last *auth.AuthPayload
	for range 3 {
		clk.Advance(time.Second)
		var err error
		if last, err = s.env.Service.Login(t.Context(), "hana@example.com", pw, nil); err != nil {
			t.Fatal(err)
		}
	}
	status, raw = s.action(t, "revokeAllSessions", nil, map[string]string{
		"x-hasura-role": "user", "x-hasura-user-id": last.User.ID, "x-hasura-session-id": last.SessionID,
	})
	if status != http.StatusOK || strings.TrimSpace(string(raw)) != "3" {
		t.Errorf("revokeAllSessions = %d %s, want 200 3", status, raw)
	}
}

// wantActionError checks a failed action: the status, and a body of exactly
// {"message": …, "extensions": {"code": …}} (RATE_LIMITED also says when to
// retry, in extensions.retryAfter).
func wantActionError(t *testing.T, status int, raw []byte, wantStatus int, code auth.Code) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status %d, want %d: %s", status, wantStatus, raw)
	}
	var body map[string]any
	decodeJSON(t, raw, &body)
	msg, _ := body["message"].(string)
	want := map[string]any{"message": msg, "extensions": map[string]any{"code": string(code)}}
	if ext, ok := body["extensions"].(map[string]any); ok && code == auth.CodeRateLimited && ext["retryAfter"] != nil {
		want["extensions"].(map[string]any)["retryAfter"] = ext["retryAfter"]
	}
	if ext, ok := body["extensions"].(map[string]any); ok && code == auth.CodeUnauthenticated && ext["reason"] != nil {
		want["extensions"].(map[string]any)["reason"] = ext["reason"] // why a sent token was refused
	}
	if msg == "" || !reflect.DeepEqual(body, want) {
		t.Errorf("body %s, want {message, extensions:{code:%s}}", raw, code)
	}
	assertSafe(t, status, raw)
}

// TestActionErrors checks the status and body of every kind of refusal on
// /actions.
func TestActionErrors(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	const pw = "correct horse battery"
	taken := s.env.Signup(t, "ivan@example.com", pw)
	s.env.Signup(t, "judy@example.com", pw)
	if err := s.env.Service.SetUserDisabled(t.Context(), "judy@example.com", true); err != nil {
		t.Fatal(err)
	}
	ivan := map[string]string{"x-hasura-role": "user", "x-hasura-user-id": taken.User.ID, "x-hasura-session-id": taken.SessionID}
	contentType := []string{"Content-Type", "application/json"}

	cases := []struct {
		name       string
		body       []byte
		header     []string
		wantStatus int
		wantCode   auth.Code
	}{
		{"missing X-Action-Secret", actionBody(t, "login", map[string]any{"identifier": "ivan@example.com", "password": pw}, nil),
			nil, http.StatusUnauthorized, auth.CodeActionSecretMismatch},
		{"wrong X-Action-Secret", actionBody(t, "login", map[string]any{"identifier": "ivan@example.com", "password": pw}, nil),
			[]string{"X-Action-Secret", actionSecret + "x"}, http.StatusUnauthorized, auth.CodeActionSecretMismatch},
		{"unknown action", actionBody(t, "dropTables", map[string]any{}, nil),
			[]string{"X-Action-Secret", actionSecret}, http.StatusBadRequest, auth.CodeBadUserInput},
		{"missing input field", actionBody(t, "login", map[string]any{"identifier": "ivan@example.com"}, nil),
			[]string{"X-Action-Secret", actionSecret}, http.StatusBadRequest, auth.CodeBadUserInput},
		{"null input field", actionBody(t, "refreshToken", map[string]any{"refreshToken": nil}, nil),
			[]string{"X-Action-Secret", actionSecret}, http.StatusBadRequest, auth.CodeBadUserInput},
		{"input field of the wrong type", actionBody(t, "login", map[string]any{"identifier": 7, "password": pw}, nil),
			[]string{"X-Action-Secret", actionSecret}, http.StatusBadRequest, auth.CodeBadUserInput},
		{"malformed JSON", []byte(`{"action":{"name":"login"},"input":`),
			[]string{"X-Action-Secret", actionSecret}, http.StatusBadRequest, auth.CodeBadUserInput},
		{"empty body", []byte{},
			[]string{"X-Action-Secret", actionSecret}, http.StatusBadRequest, auth.CodeBadUserInput},
		{"user-needing action without x-hasura-user-id", actionBody(t, "mySessions", nil, map[string]string{"x-hasura-role": "user"}),
			[]string{"X-Action-Secret", actionSecret}, http.StatusUnauthorized, auth.CodeUnauthenticated},
		{"revokeAllSessions without x-hasura-user-id", actionBody(t, "revokeAllSessions", nil, nil),
			[]string{"X-Action-Secret", actionSecret}, http.StatusUnauthorized, auth.CodeUnauthenticated},
		{"wrong password", actionBody(t, "login", map[string]any{"identifier": "ivan@example.com", "password": "wrong password"}, nil),
			[]string{"X-Action-Secret", actionSecret}, http.StatusUnauthorized, auth.CodeInvalidCredentials},
		{"disabled user", actionBody(t, "login", map[string]any{"identifier": "judy@example.com", "password": pw}, nil),
			[]string{"X-Action-Secret", actionSecret}, http.StatusForbidden, auth.CodeUserDisabled},
		{"taken email", actionBody(t, "signup", map[string]any{"email": "IVAN@example.com", "password": pw}, nil),
			[]string{"X-Action-Secret", actionSecret}, http.StatusConflict, auth.CodeEmailTaken},
		{"weak password", actionBody(t, "signup", map[string]any{"email": "kim@example.com", "password": "short"}, nil),
			[]string{"X-Action-Secret", actionSecret}, http.StatusBadRequest, auth.CodeWeakPassword},
		{"unknown refresh token", actionBody(t, "refreshToken", map[string]any{"refreshToken": strings.Repeat("B", 43)}, nil),
			[]string{"X-Action-Secret", actionSecret}, http.StatusUnauthorized, auth.CodeInvalidRefreshToken},
		{"another user's session", actionBody(t, "revokeSession", map[string]any{"id": "00000000-0000-0000-0000-000000000000"}, ivan),
			[]string{"X-Action-Secret", actionSecret}, http.StatusNotFound, auth.CodeNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, raw := s.do(t, http.MethodPost, "/actions", tc.body, append(contentType, tc.header...)...)
			wantActionError(t, status, raw, tc.wantStatus, tc.wantCode)
		})
	}

	// Nothing refused above opened a session.
	if got, err := s.env.Service.MySessions(authtest.As(taken)); err != nil || len(got) != 1 {
		t.Errorf("ivan has %d sessions (%v), want only his first", len(got), err)
	}
}

// TestActionsAreOffWithoutASecret checks that /actions runs nothing when
// AUTHGATE_ACTION_SECRET is empty, whatever the caller sends, and answers
// NOT_FOUND naming the setting that turns it on.
func TestActionsAreOffWithoutASecret(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{ActionSecret: "-"})
	for _, secret := range []string{"", actionSecret} {
		status, raw := s.do(t, http.MethodPost, "/actions",
			actionBody(t, "login", map[string]any{"identifier": "a@example.com", "password": "whatever1"}, nil),
			"Content-Type", "application/json", "X-Action-Secret", secret)
		wantActionError(t, status, raw, http.StatusNotFound, auth.CodeNotFound)
		if !strings.Contains(string(raw), "AUTHGATE_ACTION_SECRET") {
			t.Errorf("with X-Action-Secret %q: the answer does not name AUTHGATE_ACTION_SECRET: %s", secret, raw)
		}
	}
}

// TestWrongActionSecretIsLoggedAsAWarning checks that a wrong or missing
// X-Action-Secret, a misconfigured Hasura, is logged at warn (without the
// secret) so the operator sees it, while the client gets
// ACTION_SECRET_MISMATCH rather than a code that reads as its own bad token.
func TestWrongActionSecretIsLoggedAsAWarning(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := httpapi.New(httpapi.Config{ActionSecret: actionSecret}, env.Service, graph.NewServer(env.Service, graph.Options{}), env.Store, logger)
	wrong := actionSecret + "-but-not-quite"
	req := httptest.NewRequest(http.MethodPost, "/actions", bytes.NewReader(actionBody(t, "me", nil, nil)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Action-Secret", wrong)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	wantActionError(t, rec.Code, rec.Body.Bytes(), http.StatusUnauthorized, auth.CodeActionSecretMismatch)
	var line struct{ Level, Msg string }
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Level != "WARN" || !strings.Contains(line.Msg, "AUTHGATE_ACTION_SECRET") {
		t.Errorf("log %q (%v), want one warning naming AUTHGATE_ACTION_SECRET", logs.String(), err)
	}
	if strings.Contains(logs.String(), actionSecret) {
		t.Errorf("the log shows the secret: %s", logs.String())
	}
}

// TestActionWithSessionVariablesThatAreNotIDs checks that session variables
// naming no real user or session are refused as a client error, not a 500.
func TestActionWithSessionVariablesThatAreNotIDs(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	p := s.env.Signup(t, "wes@example.com", "correct horse battery")
	for _, action := range []string{"me", "mySessions", "revokeAllSessions"} {
		for name, vars := range map[string]map[string]string{
			"user id":    {"x-hasura-role": "user", "x-hasura-user-id": "not-a-uuid"},
			"session id": {"x-hasura-role": "user", "x-hasura-user-id": p.User.ID, "x-hasura-session-id": "not-a-uuid"},
		} {
			t.Run(action+"/"+name, func(t *testing.T) {
				status, raw := s.action(t, action, nil, vars)
				assertSafe(t, status, raw)
				if status == http.StatusOK {
					return // a session id that names nothing may simply mark no session current
				}
				wantActionError(t, status, raw, http.StatusUnauthorized, auth.CodeUnauthenticated)
			})
		}
	}
}

// TestActionServerErrorsReachTheClientAs4xx: Hasura passes an action's error
// to its client only from a 4xx answer; any other non-2xx status becomes its
// own "internal error" with code "unexpected", and the action's message and
// extensions are lost (GraphQL/Execute/Action.hs, callWebhook: the
// statusIsClientError branch decodes {message, extensions}, the otherwise
// branch throws500 "internal error"). So /actions answers UNAVAILABLE (with
// extensions.retryAfter and Retry-After) and INTERNAL as 4xx, while /graphql
// keeps its codes.
func TestActionServerErrorsReachTheClientAs4xx(t *testing.T) {
	t.Parallel()
	// A request deadline that has passed before the database is asked: the
	// refresh's statement fails as it does when the database cannot be
	// reached in time.
	late := newServer(t, httpapi.Config{RequestTimeout: time.Nanosecond})
	status, raw := late.action(t, "refreshToken", map[string]any{"refreshToken": strings.Repeat("A", 43)}, nil)
	if status < 400 || status > 499 {
		t.Errorf("UNAVAILABLE: status %d, want a 4xx Hasura passes on: %s", status, raw)
	}
	var body struct {
		Message    string `json:"message"`
		Extensions struct {
			Code       string `json:"code"`
			RetryAfter int    `json:"retryAfter"`
		} `json:"extensions"`
	}
	decodeJSON(t, raw, &body)
	if body.Extensions.Code != string(auth.CodeUnavailable) || body.Extensions.RetryAfter < 1 || body.Message == "" {
		t.Errorf("UNAVAILABLE body %s, want code UNAVAILABLE with retryAfter", raw)
	}
	assertSafe(t, status, raw)

	// A broken store (its pool closed) is not an auth.Error: INTERNAL.
	broken := newServer(t, httpapi.Config{})
	broken.env.Store.Close()
	status, raw = broken.action(t, "refreshToken", map[string]any{"refreshToken": strings.Repeat("A", 43)}, nil)
	if status < 400 || status > 499 {
		t.Errorf("INTERNAL: status %d, want a 4xx Hasura passes on: %s", status, raw)
	}
	decodeJSON(t, raw, &body)
	if body.Extensions.Code != string(auth.CodeInternal) || body.Message != "internal error" {
		t.Errorf("INTERNAL body %s", raw)
	}

	// /graphql keeps its codes and statuses.
	r := broken.graphql(t, refreshMutation, map[string]any{"t": strings.Repeat("A", 43)})
	r.wantCode(t, auth.CodeInternal)
	if r.Status != http.StatusOK {
		t.Errorf("/graphql INTERNAL status %d, want 200 as before", r.Status)
	}
}

// TestCallerBoundActionsNeedALiveSession: Hasura fills an anonymous
// caller's session variables from the client's own headers
// (Server/Auth/JWT.hs, processJwt_'s withoutAuthZ: mkSessionVariablesHeaders
// headers), so x-hasura-user-id proves nothing by itself. Whatever the
// metadata grants, an action that acts for its caller runs only when
// x-hasura-session-id names a live session of that user; else
// UNAUTHENTICATED, and nothing changes.
func TestCallerBoundActionsNeedALiveSession(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	const pw = "correct horse battery"
	ann := s.env.Signup(t, "ann@example.com", pw)
	annLater := s.env.Signup(t, "ann2@example.com", pw) // a second user whose session outlives Ann's
	bob := s.env.Signup(t, "bob@example.com", pw)
	loggedOut, err := s.env.Service.Login(t.Context(), "ann@example.com", pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.env.Service.Revoke(t.Context(), loggedOut.RefreshToken); err != nil {
		t.Fatal(err)
	}
	deniedToken, err := s.env.Service.Login(t.Context(), "ann@example.com", pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.graphql(t, `mutation { revokeAccessToken }`, nil, bearer(deniedToken.AccessToken)...); r.code(t) != "" {
		t.Fatalf("revokeAccessToken: %s", r.Body)
	}
	vars := func(userID, sessionID string) map[string]string {
		v := map[string]string{"x-hasura-role": "anonymous", "x-hasura-user-id": userID}
		if sessionID != "" {
			v["x-hasura-session-id"] = sessionID
		}
		return v
	}
	inputs := map[string]any{
		"me": nil, "mySessions": nil, "revokeAllSessions": nil, "revokeAccessToken": nil,
		"revokeSession":  map[string]any{"id": ann.SessionID},
		"changePassword": map[string]any{"oldPassword": pw, "newPassword": "a new password"},
	}
	refused := map[string]struct {
		vars   map[string]string
		header []string
	}{
		"no session id":              {vars(ann.User.ID, ""), nil},
		"another user's session":     {vars(ann.User.ID, bob.SessionID), nil},
		"an unknown session":         {vars(ann.User.ID, "00000000-0000-4000-8000-000000000000"), nil},
		"a logged-out session":       {vars(ann.User.ID, loggedOut.SessionID), nil},
		"a denylisted token":         {vars(ann.User.ID, deniedToken.SessionID), bearer(deniedToken.AccessToken)},
		"a token of another user":    {vars(ann.User.ID, ann.SessionID), bearer(bob.AccessToken)},
		"a token of another session": {vars(ann.User.ID, ann.SessionID), bearer(deniedToken.AccessToken)},
	}
	for action, input := range inputs {
		for name, tc := range refused {
			t.Run(action+"/"+name, func(t *testing.T) {
				status, raw := s.action(t, action, input, tc.vars, tc.header...)
				wantActionError(t, status, raw, http.StatusUnauthorized, auth.CodeUnauthenticated)
			})
		}
	}
	// Nothing refused changed anything: Ann's first session and password hold.
	if got, err := s.env.Service.MySessions(authtest.As(ann)); err != nil || len(got) != 2 {
		t.Fatalf("ann has %d sessions (%v), want her first and the denylisted token's", len(got), err)
	}
	if _, err := s.env.Service.Login(t.Context(), "ann@example.com", pw, nil); err != nil {
		t.Fatalf("ann's password changed: %v", err)
	}

	// A live session of the user is enough, with or without its token.
	status, raw := s.action(t, "me", nil, vars(ann.User.ID, ann.SessionID))
	if status != http.StatusOK || !strings.Contains(string(raw), "ann@example.com") {
		t.Fatalf("me with a live session: %d %s", status, raw)
	}
	status, raw = s.action(t, "me", nil, vars(bob.User.ID, ""), bearer(bob.AccessToken)...)
	if status != http.StatusOK || !strings.Contains(string(raw), "bob@example.com") {
		t.Fatalf("me with no session id but the user's own token: %d %s", status, raw)
	}

	// A session that expired is not live, though no revocation announced it:
	// the check asks the database.
	s.env.Clock.Advance(31 * 24 * time.Hour)
	status, raw = s.action(t, "me", nil, vars(annLater.User.ID, annLater.SessionID))
	wantActionError(t, status, raw, http.StatusUnauthorized, auth.CodeUnauthenticated)
}
