package auth_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"authgate/internal/auth"
)

// FuzzNormalizeEmail feeds NormalizeEmail arbitrary text: it never panics,
// refuses with BAD_USER_INPUT only, and what it returns is a fixed point
// (normalising it again changes nothing, so a stored address is found by
// itself), storable, NFC, at most 254 bytes, with an ASCII domain.
func FuzzNormalizeEmail(f *testing.F) {
	for _, seed := range []string{
		"ann@example.com", " Ann@Example.COM ", "jo\u0308rg@example.com", "ann@b\u00fccher.example",
		"ann@xn--bcher-kva.example", "p\u0430ypal@example.com", "\u5c71\u7530@\u4f8b\u3048.jp", "a@b", "@", "a@",
		"a\x00@example.com", "a@[127.0.0.1]", "\"a b\"@example.com", "a@fa\u00df.de", "\u0130stanbul@example.com",
		"\u03a3\u03a3@example.gr", "a@\uff45xample.com", strings.Repeat("a", 250) + "@b.c",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		email, err := auth.NormalizeEmail(raw)
		if err != nil {
			if auth.CodeOf(err) != auth.CodeBadUserInput {
				t.Fatalf("%+q: refused with %v", raw, err)
			}
			return
		}
		again, err := auth.NormalizeEmail(email)
		if err != nil || again != email {
			t.Fatalf("%+q → %+q → %+q, %v: not a fixed point", raw, email, again, err)
		}
		if !utf8.ValidString(email) || strings.IndexByte(email, 0) >= 0 || len(email) > 254 || !norm.NFC.IsNormalString(email) {
			t.Fatalf("%+q → %+q: not storable, too long or not NFC", raw, email)
		}
		domain := email[strings.LastIndexByte(email, '@')+1:]
		for i := 0; i < len(domain); i++ {
			if domain[i] >= utf8.RuneSelf {
				t.Fatalf("%+q → %+q: the domain is not ASCII", raw, email)
			}
		}
	})
}
