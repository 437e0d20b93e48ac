package graph

import (
	"strings"
	"testing"
)

// BenchmarkBodyProblem is what checking a POST body costs on top of
// gqlgen's own decoding, for a refresh as a client sends it.
func BenchmarkBodyProblem(b *testing.B) {
	body := []byte(`{"query":"mutation Refresh($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken refreshTokenExpiresAt } }","operationName":"Refresh","variables":{"t":"` + strings.Repeat("A", 43) + `"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if p := bodyProblem(body); p != "" {
			b.Fatal(p)
		}
	}
}
