package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
)

// BenchmarkActionJSON measures the JSON work of one refresh over /actions,
// decoding Hasura's request and encoding the answer, the way handleAction
// does it ("stream": json.Decoder on the body, json.Encoder on the writer)
// against reading and writing whole buffers ("buffer"). Run it also with
// GOEXPERIMENT=jsonv2 to compare encoding/json's v2 engine.
func BenchmarkActionJSON(b *testing.B) {
	request := `{"action":{"name":"refreshToken"},"input":{"refreshToken":"` + strings.Repeat("A", 43) +
		`"},"session_variables":{"x-hasura-role":"anonymous"},"request_query":"mutation { refreshToken(refreshToken: $t) { accessToken refreshToken } }"}`
	now := time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC)
	answer := &auth.AuthPayload{
		AccessToken: strings.Repeat("x", 620), AccessTokenExpiresAt: now.Add(15 * time.Minute),
		RefreshToken: strings.Repeat("R", 43), RefreshTokenExpiresAt: now.Add(720 * time.Hour),
		SessionID: "0b5e6f7a-1c2d-4e3f-8a9b-0c1d2e3f4a5b",
		User: &auth.User{ID: "7c9e6679-7425-40de-944b-e07fc1f90ae7", Email: "user42@example.com", DefaultRole: "user",
			AllowedRoles: []string{"user", "editor"}, CreatedAt: now.Add(-time.Hour), Claims: auth.Claims{"x-hasura-org-id": "42"}},
	}
	run := func(b *testing.B, decode func(io.Reader, *actionRequest) error, encode func(http.ResponseWriter, any)) {
		b.ReportAllocs()
		for b.Loop() {
			var req actionRequest
			if err := decode(strings.NewReader(request), &req); err != nil || req.Action.Name != "refreshToken" {
				b.Fatal(err)
			}
			var in struct {
				RefreshToken *string `json:"refreshToken"`
			}
			if err := json.Unmarshal(req.Input, &in); err != nil || in.RefreshToken == nil {
				b.Fatal(err)
			}
			w := httptest.NewRecorder()
			encode(w, payloadAnswer{answer, answer.RefreshTokenInBody(), &userAnswer{User: answer.User}})
			if w.Body.Len() < 700 {
				b.Fatalf("answer of %d bytes", w.Body.Len())
			}
		}
	}
	b.Run("stream", func(b *testing.B) {
		run(b, func(r io.Reader, v *actionRequest) error { return json.NewDecoder(r).Decode(v) },
			func(w http.ResponseWriter, v any) { writeJSON(w, http.StatusOK, v) })
	})
	b.Run("buffer", func(b *testing.B) {
		run(b, func(r io.Reader, v *actionRequest) error {
			body, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			return json.Unmarshal(body, v)
		}, func(w http.ResponseWriter, v any) {
			body, _ := json.Marshal(v)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(bytes.TrimSpace(body))
		})
	})
}
