package auth_test

import (
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

const (
	nfc = "j\u00f6rg@example.com"  // ö as one code point
	nfd = "jo\u0308rg@example.com" // o followed by a combining diaeresis
)

// NFC and NFD forms of one address (and its Unicode upper case) are one
// account, whichever was used first, at every entry point.
func TestNFCAndNFDFormsOfOneAddressAreOneAccount(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, nfd, "correct horse")
	if p.User.Email != nfc {
		t.Fatalf("stored %q, want the NFC form %q", p.User.Email, nfc)
	}
	for _, identifier := range []string{nfc, nfd, "J\u00d6RG@EXAMPLE.COM", "JO\u0308RG@Example.Com"} {
		l, err := env.Service.Login(bg, identifier, "correct horse", nil)
		if err != nil || l.User.ID != p.User.ID {
			t.Fatalf("login as %+q: %v", identifier, err)
		}
	}
	_, err := env.Service.Signup(bg, nfc, "correct horse", nil)
	wantCode(t, err, auth.CodeEmailTaken)
	_, err = env.Service.AddUser(bg, "J\u00d6RG@example.com", "correct horse", "", nil)
	wantCode(t, err, auth.CodeEmailTaken)
	_, err = env.Service.ImportUser(bg, auth.ImportedUser{Email: nfd, PasswordHash: pgcryptoHash(t, env, "x"), Enabled: true})
	wantCode(t, err, auth.CodeEmailTaken)
	// The administrative commands find the account by any form.
	if err := env.Service.SetUserDisabled(bg, nfd, true); err != nil {
		t.Fatalf("disable by the NFD form: %v", err)
	}
	_, err = env.Service.Login(bg, nfc, "correct horse", nil)
	wantCode(t, err, auth.CodeUserDisabled)
	if events, err := env.Service.AuditTrail(bg, nfd, authtest.Start.Add(-1)); err != nil || len(events) == 0 {
		t.Fatalf("audit by the NFD form: %d events, %v", len(events), err)
	}
	var users int
	if err := env.Store.DB().Get(&users, `SELECT count(*) FROM auth.users`); err != nil || users != 1 {
		t.Fatalf("%d users (%v), want 1", users, err)
	}
}

// A domain is stored in its ASCII (punycode) form, so the Unicode and the
// ASCII spelling of one domain are one account.
func TestInternationalDomainsAreStoredInTheirASCIIForm(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "ann@B\u00dcCHER.example", "correct horse")
	if p.User.Email != "ann@xn--bcher-kva.example" {
		t.Fatalf("stored %q", p.User.Email)
	}
	for _, identifier := range []string{"ann@xn--bcher-kva.example", "ann@bu\u0308cher.example", "ANN@b\u00fccher.EXAMPLE"} {
		if _, err := env.Service.Login(bg, identifier, "correct horse", nil); err != nil {
			t.Fatalf("login as %+q: %v", identifier, err)
		}
	}
	_, err := env.Service.Signup(bg, "ann@xn--bcher-kva.example", "correct horse", nil)
	wantCode(t, err, auth.CodeEmailTaken)
}

// Look-alike addresses that mix scripts in the local part are refused;
// addresses in one script (or Japanese's mix) are welcome.
func TestLocalPartsMixingScriptsAreRefused(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "paypal@example.com", "correct horse")
	for _, tc := range []struct {
		name, email string
		code        auth.Code
	}{
		{"Latin with a Cyrillic a", "p\u0430ypal@example.com", auth.CodeBadUserInput},
		{"Latin with a Greek omicron", "g\u03bfogle@example.com", auth.CodeBadUserInput},
		{"Cyrillic with a Latin e", "\u0438\u0432\u0430\u043de@example.com", auth.CodeBadUserInput},
		{"a no-break space inside", "ann\u00a0lee@example.com", auth.CodeBadUserInput},
		{"a right-to-left override", "ann\u202exe.@example.com", auth.CodeBadUserInput},
		{"a zero-width space", "ann\u200b@example.com", auth.CodeBadUserInput},
		{"an emoji", "ann\U0001f511@example.com", auth.CodeBadUserInput},
		{"a domain literal", "ann@[192.0.2.1]", auth.CodeBadUserInput},
		{"a domain that is no host name", "ann@my_host.example", auth.CodeBadUserInput},
		{"all Cyrillic", "\u0438\u0432\u0430\u043d@example.ru", ""},
		{"Japanese: Han, Hiragana and Katakana", "\u5c71\u7530\u305f\u308d\u3046\u30bf@example.jp", ""},
		{"Latin with accents", "fran\u00e7ois.m\u00fcller@example.fr", ""},
		{"Greek", "\u03b1\u03bb\u03ad\u03be\u03b1\u03bd\u03b4\u03c1\u03bf\u03c2@example.gr", ""},
		{"ASCII with digits and dots", "a.b+tag-9@example.com", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Service.Signup(bg, tc.email, "correct horse", nil)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("signup %+q: %v", tc.email, err)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}
