package redirect_test

import (
	"errors"
	"net/url"
	"testing"

	"authgate/internal/redirect"
)

func TestCheckComparesParsedURLsNotStrings(t *testing.T) {
	allow, err := redirect.New([]string{
		"https://app.example.com",
		"https://example.org/app/",
		"http://localhost:3000/auth",
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, url string
		allowed   bool
	}{
		{"an allowed origin, any path", "https://app.example.com/welcome?x=1#top", true},
		{"the origin itself", "https://app.example.com", true},
		{"explicit default port", "https://app.example.com:443/a", true},
		{"host case does not matter", "https://APP.Example.com/a", true},
		{"a path under an allowed prefix", "https://example.org/app/reset", true},
		{"a prefix without a trailing slash allows itself", "http://localhost:3000/auth", true},
		{"… and what is below it", "http://localhost:3000/auth/callback", true},
		{"a longer host sharing the string prefix", "https://app.example.com.evil.net/", false},
		{"user information hiding the real host", "https://app.example.com@evil.net/", false},
		{"user information with a password", "https://app.example.com:x@evil.net/", false},
		{"backslash that browsers read as a slash", `https://evil.net\@app.example.com/`, false},
		{"another scheme", "http://app.example.com/", false},
		{"javascript URL", "javascript:alert(1)//https://app.example.com", false},
		{"another port", "https://app.example.com:8443/", false},
		{"a sibling path sharing the string prefix", "https://example.org/application", false},
		{"a path outside the prefix", "https://example.org/admin", false},
		{"dot segments leaving the prefix", "https://example.org/app/../admin", false},
		{"encoded dot segments", "https://example.org/app/%2e%2e/admin", false},
		{"an encoded slash", "https://example.org/app%2f..%2fadmin", false},
		{"a path beside a prefix without trailing slash", "http://localhost:3000/authx", false},
		{"protocol-relative", "//app.example.com/", false},
		{"relative path", "/welcome", false},
		{"a space", "https://app.example.com/ x", false},
		{"a newline", "https://app.example.com/\nx", false},
		{"a look-alike host in another script", "https://аpp.example.com/", false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := allow.Check(tc.url)
			if tc.allowed {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want allowed", tc.url, err)
				}
				if u == nil {
					t.Fatalf("Check(%q) returned no URL", tc.url)
				}
				return
			}
			if !errors.Is(err, redirect.ErrNotAllowed) {
				t.Fatalf("Check(%q) = %v, %v; want ErrNotAllowed", tc.url, u, err)
			}
		})
	}
}

func TestNewRefusesEntriesItCannotCompare(t *testing.T) {
	for _, entry := range []string{
		"app.example.com",
		"ftp://app.example.com",
		"https://user@app.example.com",
		"https://app.example.com/?next=x",
		"https://app.example.com/#x",
		"https://app.example.com/a/../b",
		"*",
	} {
		if _, err := redirect.New([]string{entry}, ""); err == nil {
			t.Errorf("New(%q) accepted it", entry)
		}
	}
	if _, err := redirect.New(nil, "https://user@app.example.com/"); err == nil {
		t.Error("New accepted an app URL with user information")
	}
}

func TestResolveDefaultsToTheAppURL(t *testing.T) {
	allow, err := redirect.New(nil, "https://app.example.com/auth/done?from=mail")
	if err != nil {
		t.Fatal(err)
	}
	u, err := allow.Resolve("")
	if err != nil || u.String() != "https://app.example.com/auth/done?from=mail" {
		t.Fatalf("Resolve(\"\") = %v, %v", u, err)
	}
	if _, err := allow.Check("https://app.example.com/auth/done/next"); err != nil {
		t.Errorf("a page below the app URL: %v", err)
	}
	if _, err := allow.Check("https://app.example.com/other"); !errors.Is(err, redirect.ErrNotAllowed) {
		t.Errorf("a page beside the app URL: %v", err)
	}
	none, _ := redirect.New([]string{"https://app.example.com"}, "")
	if _, err := none.Resolve(""); !errors.Is(err, redirect.ErrNoDefault) {
		t.Errorf("Resolve(\"\") without an app URL = %v, want ErrNoDefault", err)
	}
	var empty *redirect.AllowList
	if _, err := empty.Check("https://app.example.com/"); !errors.Is(err, redirect.ErrNotAllowed) {
		t.Errorf("a nil allow-list allowed a URL: %v", err)
	}
	if !empty.Empty() || allow.Empty() {
		t.Error("Empty is wrong")
	}
}

func TestWithQueryReplacesSmuggledParameters(t *testing.T) {
	u, _ := url.Parse("https://app.example.com/cb?token=attacker&keep=1")
	got := redirect.WithQuery(u, "type", "reset", "token", "real")
	want := "https://app.example.com/cb?keep=1&token=real&type=reset"
	if got != want {
		t.Fatalf("WithQuery = %q, want %q", got, want)
	}
	if u.RawQuery != "token=attacker&keep=1" {
		t.Fatalf("WithQuery changed its argument: %q", u.RawQuery)
	}
}
