// Package playground serves the GraphiQL page and the scripts it runs from
// the binary itself: the playground works where no CDN is reachable, no
// third party can change the code it runs, and the page can carry a
// Content-Security-Policy that allows nothing else.
package playground

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"

	gqlplayground "github.com/99designs/gqlgen/graphql/playground"
)

// The files are the npm packages' own, byte for byte the ones gqlgen's
// playground loads from jsDelivr (the test checks them against gqlgen's
// integrity hashes). Upgrading means replacing a folder and the names here.
//
//go:embed assets
var assets embed.FS

// AssetPath is where the playground's scripts and styles are served.
const AssetPath = "/playground/"

const (
	graphiQLScript = "graphiql-4.1.2/graphiql.min.js"
	graphiQLStyle  = "graphiql-4.1.2/graphiql.min.css"
	reactScript    = "react-18.2.0/react.production.min.js"
	reactDOMScript = "react-dom-18.2.0/react-dom.production.min.js"
)

// The authgate panel (a GraphiQL plugin that signs in and attaches the
// token) and the @authgate/client modules it imports: built from clients/js
// by `npm run build:playground` (docs/client.md), committed, and served
// under a folder named by their content hash, so that browsers may keep
// them as long as the vendored files and never run a stale copy.
const (
	panelDir    = "authgate"
	panelScript = "playground/panel.js"
	panelStyle  = "playground/panel.css"
)

// Playground is the page (rendered once) and its files.
type Playground struct {
	page  []byte
	csp   string
	files map[string]asset
}

type asset struct {
	contentType string
	body        []byte
}

// New renders the GraphiQL page for endpoint. Without introspection the
// page asks for no schema (GraphiQL would show "Error fetching schema") and
// says how to turn introspection on; queries still run. Like template.Must,
// it panics if an embedded file is missing or gqlgen's page changed shape:
// a broken build, which the tests rule out.
func New(title, endpoint string, introspection bool) *Playground {
	files, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err)
	}
	served := map[string]asset{}
	for _, name := range []string{graphiQLScript, graphiQLStyle, reactScript, reactDOMScript} {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			panic(fmt.Sprintf("playground asset %s: %v", name, err))
		}
		served[name] = asset{contentType: mime.TypeByExtension(path.Ext(name)), body: b}
	}
	panelPath := addPanel(files, served)
	integrity := func(name string) string { return hashSource(served[name].body) }
	render := gqlplayground.Handler(title, endpoint,
		gqlplayground.WithGraphiqlVersion(AssetPath+graphiQLScript, AssetPath+graphiQLStyle,
			integrity(graphiQLScript), integrity(graphiQLStyle)),
		gqlplayground.WithGraphiqlReactVersion(AssetPath+reactScript, AssetPath+reactDOMScript,
			integrity(reactScript), integrity(reactDOMScript)),
	)
	var rendered pageWriter
	render(&rendered, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Header: http.Header{}})
	page := withPanel(rendered.body.Bytes(), AssetPath+panelPath, integrity(panelPath+panelScript), integrity(panelPath+panelStyle))
	if !introspection {
		page = withoutIntrospection(page)
	}
	return &Playground{page: page, csp: pagePolicy(page), files: served}
}

// addPanel adds the panel's files to served under "authgate-<hash>/" and
// returns that folder.
func addPanel(files fs.FS, served map[string]asset) string {
	sum := sha256.New()
	panel := map[string][]byte{}
	err := fs.WalkDir(files, panelDir, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(name, panelDir+"/")
		panel[rel] = b
		fmt.Fprintf(sum, "%s\x00%d\x00", rel, len(b))
		sum.Write(b)
		return nil
	})
	if err != nil || panel[panelScript] == nil || panel[panelStyle] == nil {
		panic(fmt.Sprintf("playground: the authgate panel's files are missing (%v): run npm run build:playground in clients/js", err))
	}
	dir := fmt.Sprintf("%s-%x/", panelDir, sum.Sum(nil)[:6])
	for rel, b := range panel {
		served[dir+rel] = asset{contentType: mime.TypeByExtension(path.Ext(rel)), body: b}
	}
	return dir
}

// withPanel edits gqlgen's page so that GraphiQL starts from the panel's
// module: the page's script defines authgateStart instead of rendering at
// once, and the module calls it with the fetcher that attaches the token and
// the plugin (the lock icon, first in GraphiQL's sidebar).
func withPanel(page []byte, dir, scriptSRI, styleSRI string) []byte {
	for _, edit := range []struct{ old, new string }{
		{"      const fetcher = GraphiQL.createFetcher({ url, subscriptionUrl, headers: fetcherHeaders });\n      ReactDOM.render(",
			"      // authgate's panel module (below) starts GraphiQL with its fetcher and plugin.\n" +
				"      window.authgateStart = (makeAuthgate) => {\n" +
				"      const authgate = makeAuthgate(url);\n" +
				"      plugins.unshift(authgate.plugin);\n" +
				"      const fetcher = authgate.fetcher(GraphiQL.createFetcher({ url, subscriptionUrl, headers: fetcherHeaders }));\n" +
				"      ReactDOM.render("},
		{"        document.getElementById('graphiql'),\n      );\n    </script>",
			"        document.getElementById('graphiql'),\n      );\n      };\n    </script>\n" +
				`    <script type="module" src="` + dir + panelScript + `" integrity="` + scriptSRI + `"></script>`},
		{"</head>", `<link rel="stylesheet" href="` + dir + panelStyle + `" integrity="` + styleSRI + `" />` + "\n  </head>"},
	} {
		if bytes.Count(page, []byte(edit.old)) != 1 {
			panic(fmt.Sprintf("playground: gqlgen's page does not hold %q exactly once", edit.old))
		}
		page = bytes.Replace(page, []byte(edit.old), []byte(edit.new), 1)
	}
	return page
}

// The notice shown instead of GraphiQL's schema error, and its style (an
// inline block, allowed by its hash like the page's own).
const (
	introspectionNotice = `<p class="authgate-notice">Introspection is switched off, so the playground has no schema ` +
		`(no completion, no docs); queries still run. Set <code>AUTHGATE_INTROSPECTION=true</code> to turn it on ` +
		`(<code>make run</code> does).</p>`
	noticeStyle = `<style>
		body { display: flex; flex-direction: column; height: 100vh; }
		#graphiql { flex: 1; height: auto; min-height: 0; }
		.authgate-notice { margin: 0; padding: 0.5rem 1rem; font: 14px/1.4 system-ui, sans-serif;
			background: #fff3cd; color: #664d03; border-bottom: 1px solid #ffe69c; }
	</style>`
)

// withoutIntrospection edits gqlgen's page: GraphiQL gets schema null (so it
// never sends the introspection query that would be refused), and the page
// shows the notice above it.
func withoutIntrospection(page []byte) []byte {
	for _, edit := range []struct{ old, new string }{
		{"fetcher: fetcher,", "fetcher: fetcher,\n          schema: null,"},
		{`<div id="graphiql">`, introspectionNotice + "\n    " + `<div id="graphiql">`},
		{"</head>", noticeStyle + "\n  </head>"},
	} {
		if bytes.Count(page, []byte(edit.old)) != 1 {
			panic(fmt.Sprintf("playground: gqlgen's page does not hold %q exactly once", edit.old))
		}
		page = bytes.Replace(page, []byte(edit.old), []byte(edit.new), 1)
	}
	return page
}

// pageWriter keeps what gqlgen's page handler writes, so the page is
// rendered once, at start, instead of on every request.
type pageWriter struct {
	header http.Header
	body   bytes.Buffer
}

func (w *pageWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *pageWriter) Write(b []byte) (int, error) { return w.body.Write(b) }

func (w *pageWriter) WriteHeader(int) {}

// inlineBlock finds the page's inline scripts and styles (a script with a
// src attribute has no body and is matched with an empty one).
var inlineBlock = regexp.MustCompile(`(?s)<(script|style)(?:\s[^>]*)?>(.*?)</(?:script|style)>`)

// pagePolicy allows the page's own inline blocks by hash, scripts and
// styles from authgate itself, requests to authgate only, and the data: URLs
// GraphiQL's stylesheet embeds its fonts and icons as.
func pagePolicy(page []byte) string {
	var scripts, styles []string
	for _, m := range inlineBlock.FindAllSubmatch(page, -1) {
		if len(bytes.TrimSpace(m[2])) == 0 {
			continue
		}
		h := "'" + hashSource(m[2]) + "'"
		if string(m[1]) == "script" {
			scripts = append(scripts, h)
		} else {
			styles = append(styles, h)
		}
	}
	return strings.Join([]string{
		"default-src 'none'",
		strings.Join(append([]string{"script-src 'self'"}, scripts...), " "),
		strings.Join(append([]string{"style-src 'self'"}, styles...), " "),
		"connect-src 'self'",
		"img-src 'self' data:",
		"font-src data:",
		"frame-ancestors 'none'",
		"base-uri 'none'",
		"form-action 'none'",
	}, "; ")
}

func hashSource(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// ServePage answers the GraphiQL page with its policy.
func (p *Playground) ServePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", p.csp)
	_, _ = w.Write(p.page)
}

// ServeAsset answers one of the page's files, and 404 for any other name
// (no directory listings). Their names carry their version, so browsers may
// keep them for a year.
func (p *Playground) ServeAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := p.files[strings.TrimPrefix(r.URL.Path, AssetPath)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(a.body)
}

// ServeFavicon answers the icon request every browser makes beside the page
// with an empty answer it may keep for a day, instead of a 404 in its
// console and the access log.
func ServeFavicon(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.WriteHeader(http.StatusNoContent)
}
