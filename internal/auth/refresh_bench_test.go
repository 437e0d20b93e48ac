package auth_test

import (
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// BenchmarkRefresh is one refresh-token rotation through the service and
// the real PostgreSQL: the request path whose cost the session's amr and
// level (issue 16) must not raise.
func BenchmarkRefresh(b *testing.B) {
	env := authtest.New(b, auth.Config{})
	tok := env.Signup(b, "bench@example.com", "correct horse").RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		next, err := env.Service.Refresh(bg, tok)
		if err != nil {
			b.Fatal(err)
		}
		tok = next.RefreshToken
	}
}
