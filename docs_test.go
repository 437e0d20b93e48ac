package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/99designs/gqlgen/graphql/errcode"

	"authgate/internal/config"
)

// The documentation check (issue 13): the manual is README.md and docs/*.md.
// Its links must lead somewhere, every setting authgate reads must have a
// row in a settings table, and every error code the API answers with a row
// in a codes table. A feature documents its own settings and codes in its own
// docs/<feature>.md: rows count in any docs/*.md file.

// The exact table headers the check reads.
const (
	settingsTableHeader = "| setting | default | meaning |"
	codesTableHeader    = "| code | when |"
)

// frameworkCodes are the extensions.code values gqlgen itself answers with,
// which graph.presentError passes on: parse and validation failures (422)
// and the complexity limit (extension.FixedComplexityLimit's code, which
// gqlgen does not export). Automatic persisted queries, gqlgen's other code
// (PERSISTED_QUERY_NOT_FOUND), are not switched on.
var frameworkCodes = []string{errcode.ParseFailed, errcode.ValidationFailed, "COMPLEXITY_LIMIT_EXCEEDED"}

// manualFiles returns README.md, every docs/*.md file and hasura/README.md
// (the metadata guide the manual links to).
func manualFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md files (%v)", err)
	}
	return append([]string{"README.md", "hasura/README.md"}, docs...)
}

// mdLine is one line of a markdown file outside fenced code blocks.
type mdLine struct {
	n    int
	text string
}

// proseLines returns path's lines outside ``` and ~~~ fences.
func proseLines(t *testing.T, path string) []mdLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []mdLine
	fence := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		case strings.HasPrefix(trimmed, "```"):
			fence = "```"
			continue
		case strings.HasPrefix(trimmed, "~~~"):
			fence = "~~~"
			continue
		}
		lines = append(lines, mdLine{n, line})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

var (
	headingRE = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	// linkRE finds inline links and images: [text](target) or
	// [text](target "title"). Link text may hold code and brackets one deep.
	linkRE     = regexp.MustCompile(`\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	codeSpanRE = regexp.MustCompile("`+[^`]*`+")
	mdLinkRE   = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	schemeRE   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// githubSlug is the anchor GitHub gives a heading's text: lower case,
// everything but letters, digits, spaces, hyphens and underscores dropped,
// spaces turned into hyphens. Markup is dropped first (code spans keep their
// text, links their label).
func githubSlug(heading string) string {
	heading = mdLinkRE.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// anchors returns the anchor of every heading in a markdown file, with
// GitHub's -1, -2 … suffixes for repeated headings.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	out, seen := map[string]bool{}, map[string]int{}
	for _, l := range proseLines(t, path) {
		m := headingRE.FindStringSubmatch(l.text)
		if m == nil {
			continue
		}
		slug := githubSlug(m[2])
		if n := seen[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

func TestDocsLinksResolve(t *testing.T) {
	anchorsOf := map[string]map[string]bool{}
	for _, file := range manualFiles(t) {
		for _, l := range proseLines(t, file) {
			for _, m := range linkRE.FindAllStringSubmatch(l.text, -1) {
				target := m[1]
				if schemeRE.MatchString(target) || strings.HasPrefix(target, "//") {
					continue // another site: not checked here
				}
				where := fmt.Sprintf("%s:%d: link %q", file, l.n, target)
				pathPart, fragment, _ := strings.Cut(target, "#")
				pathPart, err := url.PathUnescape(pathPart)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				dest := file
				if pathPart != "" {
					if strings.HasPrefix(pathPart, "/") {
						t.Errorf("%s: use a path relative to the file, not an absolute one", where)
						continue
					}
					dest = filepath.Join(filepath.Dir(file), pathPart)
					if _, err := os.Stat(dest); err != nil {
						t.Errorf("%s: %s does not exist", where, dest)
						continue
					}
				}
				if fragment == "" {
					continue
				}
				if !strings.HasSuffix(dest, ".md") {
					t.Errorf("%s: an anchor into %s, which is not markdown", where, dest)
					continue
				}
				if anchorsOf[dest] == nil {
					anchorsOf[dest] = anchors(t, dest)
				}
				if !anchorsOf[dest][fragment] {
					t.Errorf("%s: %s has no heading with the anchor #%s", where, dest, fragment)
				}
			}
		}
	}
}

// tableRow is the first cell of a row of a documentation table, and where
// the row is.
type tableRow struct {
	first string
	where string
}

// tableRows returns the rows of every table in docs/*.md whose header line
// is exactly header.
func tableRows(t *testing.T, header string) []tableRow {
	t.Helper()
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []tableRow
	for _, file := range docs {
		lines := proseLines(t, file)
		for i := 0; i < len(lines); i++ {
			if strings.TrimSpace(lines[i].text) != header {
				continue
			}
			i++ // the |---|---| line
			for i+1 < len(lines) && lines[i+1].n == lines[i].n+1 && strings.HasPrefix(strings.TrimSpace(lines[i+1].text), "|") {
				i++
				cells := strings.Split(strings.TrimSpace(lines[i].text), "|")
				if len(cells) < 3 {
					continue
				}
				rows = append(rows, tableRow{first: strings.TrimSpace(cells[1]), where: fmt.Sprintf("%s:%d", file, lines[i].n)})
			}
		}
	}
	return rows
}

// cellNames returns the names a first cell documents: each `quoted` name,
// or the cell itself when nothing is quoted.
func cellNames(cell string) []string {
	var names []string
	for _, span := range codeSpanRE.FindAllString(cell, -1) {
		names = append(names, strings.Trim(span, "` "))
	}
	if len(names) == 0 {
		names = append(names, cell)
	}
	return names
}

func TestDocsEverySettingHasARow(t *testing.T) {
	settings := config.SettingNames()
	documented := map[string]string{}
	for _, row := range tableRows(t, settingsTableHeader) {
		for _, name := range cellNames(row.first) {
			if strings.HasPrefix(name, "AUTHGATE_") && !slices.Contains(settings, name) {
				t.Errorf("%s: %s is not a setting authgate reads (config.SettingNames): a typo, or a setting that is gone", row.where, name)
			}
			documented[name] = row.where
		}
	}
	for _, name := range settings {
		if documented[name] == "" {
			t.Errorf("%s is read by config (SettingNames) but has no row in a %q table in docs/*.md: add one to your feature's docs/<feature>.md (or docs/operations.md)", name, settingsTableHeader)
		}
	}
}

// authCodes returns the value of every constant of type Code declared in
// internal/auth's non-test Go files.
func authCodes(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("internal/auth/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "Code" {
					continue
				}
				for i, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: const %s: a Code must be a string literal for this check to read it", fset.Position(v.Pos()), vs.Names[i].Name)
					}
					code, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					codes = append(codes, code)
				}
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("found only %d auth.Code constants in internal/auth (%v): has the declaration changed shape?", len(codes), codes)
	}
	return codes
}

func TestDocsEveryErrorCodeHasARow(t *testing.T) {
	codes := append(authCodes(t), frameworkCodes...)
	documented := map[string]bool{}
	for _, row := range tableRows(t, codesTableHeader) {
		for _, code := range cellNames(row.first) {
			if !slices.Contains(codes, code) {
				t.Errorf("%s: %s is not a code authgate answers with (an auth.Code constant, or one of gqlgen's %v)", row.where, code, frameworkCodes)
			}
			documented[code] = true
		}
	}
	for _, code := range codes {
		if !documented[code] {
			t.Errorf("error code %s has no row in a %q table in docs/*.md: add one (docs/api.md, or your feature's docs/<feature>.md)", code, codesTableHeader)
		}
	}
}

func TestGithubSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"The session check needs authgate's tables in `default`": "the-session-check-needs-authgates-tables-in-default",
		"Webhook mode: revocation within seconds":                "webhook-mode-revocation-within-seconds",
		"4. Permissions that end with the session":               "4-permissions-that-end-with-the-session",
		"Key rotation without downtime (asymmetric keys)":        "key-rotation-without-downtime-asymmetric-keys",
		"See [the API](api.md) — and_more":                       "see-the-api--and_more",
	} {
		if got := githubSlug(heading); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", heading, got, want)
		}
	}
}
