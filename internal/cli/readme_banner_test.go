package cli

import (
	"crypto/rand"
	"os"
	"regexp"
	"strings"
	"testing"

	"authgate/internal/config"
)

// TestReadmeShowsMakeRunsBanner checks that the README's copy of what
// `make run` prints is what it prints: the same lines in the same order,
// the secrets (which the README shortens to `abc…xyz`) aside. A new banner
// line, or a changed one, must be copied into the README too.
func TestReadmeShowsMakeRunsBanner(t *testing.T) {
	getenv := withDevDefaults(func(string) string { return "" })
	d, err := loadDevSecrets(getenv, t.TempDir(), rand.Reader, true)
	if err != nil {
		t.Fatal(err)
	}
	d.dataDir = ".data" // serve --dev's default --data-dir, as make run uses it
	cfg, err := config.Load(d.getenv)
	if err != nil {
		t.Fatal(err)
	}
	var banner strings.Builder
	devBanner(&banner, cfg, "[::]:8090", d) // the listener make run opens
	printed := strings.Split(strings.Trim(banner.String(), "\n"), "\n")

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const first = "authgate is running in development mode."
	_, block, ok := strings.Cut(string(readme), "```\n"+first+"\n")
	if !ok {
		t.Fatalf("README.md has no code block starting with %q (make run's output)", first)
	}
	block, _, _ = strings.Cut(block, "```")
	shown := strings.Split(strings.Trim(first+"\n"+block, "\n"), "\n")

	// A shortened secret, `abc…xyz`, stands for any secret.
	shortened := regexp.MustCompile(`[A-Za-z0-9_-]+…[A-Za-z0-9_-]*|[A-Za-z0-9_-]*…[A-Za-z0-9_-]+`)
	for i := 0; i < max(len(printed), len(shown)); i++ {
		var p, s string
		if i < len(printed) {
			p = printed[i]
		}
		if i < len(shown) {
			s = shown[i]
		}
		parts := shortened.Split(s, -1)
		for j := range parts {
			parts[j] = regexp.QuoteMeta(parts[j])
		}
		if !regexp.MustCompile("^" + strings.Join(parts, "[A-Za-z0-9_-]+") + "$").MatchString(p) {
			t.Errorf("line %d of make run's output is\n\t%q\nbut the README shows\n\t%q", i+1, p, s)
		}
	}
}
