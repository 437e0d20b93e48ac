package auth_test

import (
	"io"
	"log/slog"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/revocation"
)

// BenchmarkAuthenticate measures a bearer check in memory (the feed
// current) and against the database (the feed down): what an instance pays
// per authenticated request while its LISTEN connection is away.
func BenchmarkAuthenticate(b *testing.B) {
	for _, tc := range []struct {
		name     string
		feedDown bool
	}{{"in memory", false}, {"feed down: one database query", true}} {
		b.Run(tc.name, func(b *testing.B) {
			env := authtest.New(b, auth.Config{})
			p := env.Signup(b, "bench@example.com", "correct horse")
			if tc.feedDown {
				revocation.NewFeed(env.Revocations, env.Store, env.Clock, "postgres://127.0.0.1:1/none", slog.New(slog.NewTextHandler(io.Discard, nil)))
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := env.Service.Authenticate(bg, p.AccessToken); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
