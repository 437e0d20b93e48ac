package auth_test

import (
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// BenchmarkLogin measures a sign-in's database work against the real
// PostgreSQL (hashing is made cheap): the reservation and the session
// statement for a correct password, the reservation and the audit row for
// a wrong one. Limits are high, so nothing is held back.
func BenchmarkLogin(b *testing.B) {
	cfg := authtest.DefaultConfig()
	cfg.Throttle = auth.DefaultThrottle()
	cfg.Throttle.FreeFailures, cfg.Throttle.MaxFailures = 1000000, 1000000
	cfg.Throttle.IPFreeFailures, cfg.Throttle.IPMaxFailures = 1000000, 1000000
	env := authtest.New(b, cfg)
	env.Signup(b, "a@example.com", "correct horse")
	ctx := from("192.0.2.1")
	for _, bc := range []struct{ name, pw string }{{"correct password", "correct horse"}, {"wrong password", "wrong horse"}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_, err := env.Service.Login(ctx, "a@example.com", bc.pw, nil)
				if (err == nil) != (bc.pw == "correct horse") {
					b.Fatal(err)
				}
			}
		})
	}
}
