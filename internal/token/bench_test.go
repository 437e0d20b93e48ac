package token

import (
	"testing"

	"authgate/internal/clock"
)

func BenchmarkVerify(b *testing.B) {
	benchmarks := []struct {
		name, secret, privateKeys string
	}{
		{"HS256", `{"type":"HS256","key":"` + testSecret + `"}`, ""},
		{"EdDSA", "", edKeyFromSeed(b, 1)},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			issuer := newTestIssuer(mustConfig(b, bm.secret, bm.privateKeys), clock.NewFake(startTime()))
			tok, err := issuer.Issue(sampleClaims())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := issuer.Verify(tok.Value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
