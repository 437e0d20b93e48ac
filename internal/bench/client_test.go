package bench

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnewline\n\x01", "ünïcødé ✓", "bad \xff byte"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: %s is not JSON: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q round-trips to %q, want %q", s, back, wantBack)
		}
	}
}

func TestRequestBodiesAreWhatTheServerExpects(t *testing.T) {
	var gql struct {
		Query     string            `json:"query"`
		Variables map[string]string `json:"variables"`
	}
	if err := json.Unmarshal(refreshGraphQLBody(nil, "tok-1"), &gql); err != nil {
		t.Fatal(err)
	}
	if gql.Variables["t"] != "tok-1" || gql.Query != refreshMutation {
		t.Errorf("refresh body = %+v", gql)
	}
	if err := json.Unmarshal(loginGraphQLBody(nil, "a@b.test", `p"w`), &gql); err != nil {
		t.Fatal(err)
	}
	if gql.Variables["i"] != "a@b.test" || gql.Variables["p"] != `p"w` {
		t.Errorf("login body = %+v", gql)
	}
	var action struct {
		Action struct {
			Name string `json:"name"`
		} `json:"action"`
		Input            map[string]string `json:"input"`
		SessionVariables map[string]string `json:"session_variables"`
		RequestQuery     string            `json:"request_query"`
	}
	if err := json.Unmarshal(refreshActionBody(nil, "tok-2"), &action); err != nil {
		t.Fatal(err)
	}
	if action.Action.Name != "refreshToken" || action.Input["refreshToken"] != "tok-2" || action.RequestQuery == "" {
		t.Errorf("action body = %+v", action)
	}
	if !json.Valid(mySessionsBody) {
		t.Error("mySessions body is not JSON")
	}
}

func TestDecodeResponses(t *testing.T) {
	ok := response{status: 200, body: []byte(`{"data":{"refreshToken":{"accessToken":"a","refreshToken":"r","user":{"id":"x"}}}}`)}
	if tk, code := decodeGraphQLTokens(ok, "refreshToken"); code != "" || tk.AccessToken != "a" || tk.RefreshToken != "r" {
		t.Errorf("graphql success = %+v %q", tk, code)
	}
	gqlErr := response{status: 200, body: []byte(`{"errors":[{"message":"m","extensions":{"code":"REFRESH_TOKEN_REUSED"}}],"data":null}`)}
	if _, code := decodeGraphQLTokens(gqlErr, "refreshToken"); code != "REFRESH_TOKEN_REUSED" {
		t.Errorf("graphql error code = %q", code)
	}
	if _, code := decodeGraphQLTokens(response{status: 502, body: []byte("<html>")}, "refreshToken"); code != "HTTP_502" {
		t.Errorf("non-JSON 502 = %q", code)
	}
	if _, code := decodeGraphQLTokens(response{status: 200, body: []byte(`{"data":{}}`)}, "refreshToken"); code != "MALFORMED_RESPONSE" {
		t.Errorf("empty data = %q", code)
	}
	act := response{status: 200, body: []byte(`{"accessToken":"a","refreshToken":"r"}`)}
	if tk, code := decodeActionTokens(act); code != "" || tk.RefreshToken != "r" {
		t.Errorf("action success = %+v %q", tk, code)
	}
	actErr := response{status: 400, body: []byte(`{"message":"m","extensions":{"code":"INVALID_REFRESH_TOKEN"}}`)}
	if _, code := decodeActionTokens(actErr); code != "INVALID_REFRESH_TOKEN" {
		t.Errorf("action error = %q", code)
	}
	if _, code := decodeActionTokens(response{status: http.StatusUnauthorized}); code != "HTTP_401" {
		t.Errorf("action 401 = %q", code)
	}
	list := response{status: 200, body: []byte(`{"data":{"mySessions":[{"id":"1"},{"id":"2"}]}}`)}
	if n, code := decodeMySessions(list); n != 2 || code != "" {
		t.Errorf("mySessions = %d %q", n, code)
	}
	if _, code := decodeMySessions(response{status: 200, body: []byte(`{"errors":[{"extensions":{"code":"UNAUTHENTICATED"}}]}`)}); code != "UNAUTHENTICATED" {
		t.Errorf("mySessions error = %q", code)
	}
}
