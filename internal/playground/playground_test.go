package playground_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"authgate/internal/playground"
)

// serve serves the playground (with introspection on unless one false is
// given).
func serve(t *testing.T, introspection ...bool) *httptest.Server {
	t.Helper()
	p := playground.New("authgate", "/graphql", len(introspection) == 0 || introspection[0])
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.ServePage)
	mux.HandleFunc("GET "+playground.AssetPath, p.ServeAsset)
	mux.HandleFunc("GET /favicon.ico", playground.ServeFavicon)
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func sri(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// upstreamIntegrity is what gqlgen v0.17.95's playground pins for the same
// files on jsDelivr: the embedded copies must be those bytes exactly.
var upstreamIntegrity = map[string]string{
	"graphiql-4.1.2/graphiql.min.js":               "sha256-hnImuor1znlJkD/FOTL3jayfS/xsyNoP04abi8bFJWs=",
	"graphiql-4.1.2/graphiql.min.css":              "sha256-MEh+B2NdMSpj9kexQNN3QKc8UzMrCXW/Sx/phcpuyIU=",
	"react-18.2.0/react.production.min.js":         "sha256-S0lp+k7zWUMk2ixteM6HZvu8L9Eh//OVrt+ZfbCpmgY=",
	"react-dom-18.2.0/react-dom.production.min.js": "sha256-IXWO0ITNDjfnNXIu5POVfqlgYoop36bDzhodR6LW5Pc=",
}

// panelFile matches the authgate panel's files, in their content-hashed folder.
var panelFile = regexp.MustCompile(`^authgate-[0-9a-f]{12}/playground/panel\.(js|css)$`)

var (
	reference = regexp.MustCompile(`<(?:script|link)\s[^>]*?(?:src|href)="([^"]*)"[^>]*?integrity="([^"]*)"`)
	inline    = regexp.MustCompile(`(?s)<(script|style)>(.*?)</(?:script|style)>`)
)

// TestPageLoadsOnlyItsOwnFiles checks that the page references nothing but
// authgate's own copies of the upstream files, each served with the type a
// browser (with nosniff) needs and the bytes its integrity attribute names.
func TestPageLoadsOnlyItsOwnFiles(t *testing.T) {
	t.Parallel()
	s := serve(t)
	resp, page := get(t, s.URL+"/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(string(page), "://") {
		t.Errorf("the page names another origin: %s", regexp.MustCompile(`\S*://\S*`).FindString(string(page)))
	}
	refs := reference.FindAllStringSubmatch(string(page), -1)
	if len(refs) != len(upstreamIntegrity)+2 {
		t.Fatalf("page references %d files, want %d (the vendored ones, the authgate panel's script and style): %v", len(refs), len(upstreamIntegrity)+2, refs)
	}
	for _, ref := range refs {
		path, integrity := html.UnescapeString(ref[1]), html.UnescapeString(ref[2])
		name := strings.TrimPrefix(path, playground.AssetPath)
		panel := panelFile.MatchString(name)
		if upstreamIntegrity[name] == "" && !panel {
			t.Errorf("page loads %s, which is neither a vendored file nor the authgate panel", path)
			continue
		}
		resp, body := get(t, s.URL+path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
			continue
		}
		want := upstreamIntegrity[name]
		if panel {
			want = integrity
		}
		if got := sri(body); got != want || got != integrity {
			t.Errorf("%s: served bytes hash to %s; page says %s, upstream %s", path, got, integrity, upstreamIntegrity[name])
		}
		wantType := map[bool]string{true: "text/css", false: "text/javascript"}[strings.HasSuffix(name, ".css")]
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
			t.Errorf("%s: Content-Type %q, want %s", path, ct, wantType)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q, want a long immutable one (the name carries the version)", path, cc)
		}
	}
}

// TestPagePolicyAllowsExactlyItsInlineCode checks the page's CSP: its own
// inline blocks by hash, no unsafe-inline or eval, nothing from elsewhere.
func TestPagePolicyAllowsExactlyItsInlineCode(t *testing.T) {
	t.Parallel()
	for _, introspection := range []bool{true, false} {
		t.Run(fmt.Sprintf("introspection %v", introspection), func(t *testing.T) {
			checkPagePolicy(t, serve(t, introspection))
		})
	}
}

func checkPagePolicy(t *testing.T, s *httptest.Server) {
	resp, page := get(t, s.URL+"/")
	csp := resp.Header.Get("Content-Security-Policy")
	directives := map[string]string{}
	for d := range strings.SplitSeq(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for name, want := range map[string]string{
		"default-src": "'none'", "connect-src": "'self'", "frame-ancestors": "'none'",
		"base-uri": "'none'", "form-action": "'none'", "font-src": "data:",
	} {
		if directives[name] != want {
			t.Errorf("%s = %q, want %q (policy %q)", name, directives[name], want, csp)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") || strings.Contains(csp, "http") {
		t.Errorf("policy %q allows more than the page's own code", csp)
	}
	blocks := inline.FindAllStringSubmatch(string(page), -1)
	if len(blocks) == 0 {
		t.Fatal("no inline script or style found: the test no longer matches the page")
	}
	seen := map[string]int{}
	for _, b := range blocks {
		if strings.TrimSpace(b[2]) == "" {
			continue
		}
		seen[b[1]]++
		directive := b[1] + "-src"
		if h := "'" + sri([]byte(b[2])) + "'"; !strings.Contains(directives[directive], h) {
			t.Errorf("inline %s %s… is not allowed by %s %q", b[1], strings.TrimSpace(b[2])[:20], directive, directives[directive])
		}
	}
	if seen["script"] == 0 || seen["style"] == 0 {
		t.Errorf("inline blocks found: %v; want a script and a style", seen)
	}
}

// TestPageWithoutIntrospectionSaysHowToTurnItOn checks that with
// introspection off the page names AUTHGATE_INTROSPECTION and has GraphiQL
// ask for no schema (which would fail as "Error fetching schema"), and that
// with it on the page is gqlgen's, unchanged.
func TestPageWithoutIntrospectionSaysHowToTurnItOn(t *testing.T) {
	t.Parallel()
	_, off := get(t, serve(t, false).URL+"/")
	if !strings.Contains(string(off), "AUTHGATE_INTROSPECTION=true") {
		t.Error("the page without introspection does not name AUTHGATE_INTROSPECTION")
	}
	if !regexp.MustCompile(`fetcher: fetcher,\s+schema: null,`).Match(off) {
		t.Error("GraphiQL still introspects: no schema: null beside the fetcher")
	}
	_, on := get(t, serve(t, true).URL+"/")
	if strings.Contains(string(on), "AUTHGATE_INTROSPECTION") || strings.Contains(string(on), "schema: null") {
		t.Error("the page with introspection on carries the notice")
	}
}

// TestOnlyTheVendoredFilesAreServed checks that nothing else under the
// asset path answers: no listings, no licences or other names, no escapes.
func TestOnlyTheVendoredFilesAreServed(t *testing.T) {
	t.Parallel()
	s := serve(t)
	for _, path := range []string{
		playground.AssetPath,
		playground.AssetPath + "graphiql-4.1.2/",
		playground.AssetPath + "graphiql-4.1.2/LICENSE",
		playground.AssetPath + "graphiql-4.1.2/graphiql.min.js.map",
		playground.AssetPath + "../playground.go",
	} {
		if resp, _ := get(t, s.URL+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestPanelModulesAreServed checks that the @authgate/client modules the
// panel imports are served beside it, as JavaScript, and that the panel
// starts GraphiQL (the page's own script only defines authgateStart).
func TestPanelModulesAreServed(t *testing.T) {
	t.Parallel()
	s := serve(t)
	_, page := get(t, s.URL+"/")
	m := regexp.MustCompile(`<script type="module" src="(/playground/authgate-[0-9a-f]{12}/)playground/panel\.js"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("the page loads no authgate panel module")
	}
	dir := string(m[1])
	for _, name := range []string{"src/index.js", "src/client.js", "src/errors.js", "src/storage.js", "src/coordinator.js"} {
		resp, body := get(t, s.URL+dir+name)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") || len(body) == 0 {
			t.Errorf("GET %s%s = %d %q", dir, name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if !strings.Contains(string(page), "window.authgateStart = (makeAuthgate) =>") {
		t.Errorf("the page's script does not wait for the panel")
	}
	if resp, _ := get(t, s.URL+dir+"src/client.d.ts"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET %ssrc/client.d.ts = %d, want 404", dir, resp.StatusCode)
	}
}

// TestFaviconIsAnEmptyAnswer checks that the icon browsers ask for beside
// the page gets no error.
func TestFaviconIsAnEmptyAnswer(t *testing.T) {
	t.Parallel()
	resp, body := get(t, serve(t).URL+"/favicon.ico")
	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Errorf("GET /favicon.ico = %d with %d bytes, want 204 and none", resp.StatusCode, len(body))
	}
}
