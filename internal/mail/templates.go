package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	texttemplate "text/template"
	"time"

	"authgate/internal/auth"
)

// embedded holds the built-in templates: templates/layout.html (the HTML
// frame) and, per language, <lang>/<template>.txt (defining "subject" and
// "text"), <lang>/<template>.html (defining "body") and <lang>/fallback.html
// (defining "fallbackText", the line before a link's plain copy).
//
//go:embed templates
var embedded embed.FS

// DefaultLanguage is the language of a mail whose locale has no templates.
const DefaultLanguage = "en"

// languagePattern is what a directory of templates must be named: a BCP 47
// primary language subtag.
var languagePattern = regexp.MustCompile(`^[a-z]{2,3}$`)

// Templates render mails: the embedded ones, each file replaceable by one of
// the same path under an override directory, which may also add languages.
// They are parsed and tried once, at start-up; rendering is then safe for
// concurrent use.
type Templates struct {
	appName string
	// sets maps a language to its templates; a template a language lacks
	// falls back to DefaultLanguage's.
	sets map[string]map[auth.MailTemplate]*compiled
}

type compiled struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// Rendered is a mail ready to send.
type Rendered struct {
	Subject, Text, HTML string
	// Lang is the language it was written in.
	Lang string
}

// templateData is what templates see.
type templateData struct {
	AppName  string
	Lang     string
	Subject  string
	To       string
	Link     string
	Code     string
	NewEmail string
	// Expires is ExpiresIn written in the mail's language ("1 hour",
	// "15 Minuten"); "" when the mail has none.
	Expires   string
	ExpiresIn time.Duration
}

// LoadTemplates parses every template, with the files under dir (""
// for none) replacing the embedded ones of the same path, and renders each
// once with sample data so that a broken template fails start-up, not a
// mail. Errors name the file.
func LoadTemplates(appName, dir string) (*Templates, error) {
	var override fs.FS
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%s is not a directory", dir)
		}
		override = os.DirFS(dir)
	}
	src := sources{embedded: mustSub(embedded, "templates"), override: override}
	langs, err := src.languages()
	if err != nil {
		return nil, err
	}
	layout, err := src.read("layout.html")
	if err != nil {
		return nil, err
	}
	base, err := parseLayout(layout)
	if err != nil {
		return nil, fmt.Errorf("layout.html: %w", err)
	}
	t := &Templates{appName: appName, sets: map[string]map[auth.MailTemplate]*compiled{}}
	for _, lang := range langs {
		set := map[auth.MailTemplate]*compiled{}
		fallbackFile := lang + "/fallback.html"
		if !src.exists(fallbackFile) {
			fallbackFile = DefaultLanguage + "/fallback.html"
		}
		fallback, err := src.read(fallbackFile)
		if err != nil {
			return nil, err
		}
		for _, name := range auth.MailTemplates {
			txtFile, htmlFile := lang+"/"+string(name)+".txt", lang+"/"+string(name)+".html"
			if !src.exists(txtFile) && !src.exists(htmlFile) {
				if lang == DefaultLanguage {
					return nil, fmt.Errorf("%s: missing", txtFile)
				}
				continue
			}
			c, err := src.compile(base, txtFile, htmlFile, fallbackFile, fallback)
			if err != nil {
				return nil, err
			}
			set[name] = c
		}
		t.sets[lang] = set
	}
	for _, lang := range langs {
		for _, name := range auth.MailTemplates {
			sample := auth.Mail{Template: name, To: "reader@example.com", Locale: lang, Link: "https://app.example.com/auth?type=verify&token=sample",
				Code: "123456", NewEmail: "new@example.com", ExpiresIn: time.Hour}
			if _, err := t.Render(sample); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// parseLayout parses the HTML frame and tries it with empty language parts,
// so that a fault of its own is reported as its own.
func parseLayout(src []byte) (*htmltemplate.Template, error) {
	base, err := htmltemplate.New("layout.html").Parse(string(src))
	if err != nil {
		return nil, err
	}
	try, err := base.Clone()
	if err != nil {
		return nil, err
	}
	if _, err := try.New("empty parts").Parse(`{{define "body"}}{{end}}{{define "fallbackText"}}{{end}}`); err != nil {
		return nil, err
	}
	if err := try.ExecuteTemplate(io.Discard, "layout", templateData{Link: "https://app.example.com/"}); err != nil {
		return nil, err
	}
	return base, nil
}

// Languages lists the languages that have templates, sorted.
func (t *Templates) Languages() []string {
	out := make([]string, 0, len(t.sets))
	for lang := range t.sets {
		out = append(out, lang)
	}
	sort.Strings(out)
	return out
}

// Render writes m in its locale's language (DefaultLanguage when there are
// no templates for it). It fails only when a template fails to execute.
func (t *Templates) Render(m auth.Mail) (Rendered, error) {
	lang := t.language(m.Locale)
	c := t.sets[lang][m.Template]
	if c == nil {
		lang = DefaultLanguage
		c = t.sets[lang][m.Template]
	}
	if c == nil {
		return Rendered{}, fmt.Errorf("no template %q", m.Template)
	}
	data := templateData{AppName: t.appName, Lang: lang, To: m.To, Link: m.Link, Code: m.Code,
		NewEmail: m.NewEmail, Expires: expiresIn(lang, m.ExpiresIn), ExpiresIn: m.ExpiresIn}
	var subject, text, html bytes.Buffer
	if err := c.text.ExecuteTemplate(&subject, "subject", data); err != nil {
		return Rendered{}, fmt.Errorf("%s/%s.txt: %w", lang, m.Template, err)
	}
	data.Subject = strings.Join(strings.Fields(subject.String()), " ")
	if err := c.text.ExecuteTemplate(&text, "text", data); err != nil {
		return Rendered{}, fmt.Errorf("%s/%s.txt: %w", lang, m.Template, err)
	}
	if err := c.html.ExecuteTemplate(&html, "layout", data); err != nil {
		return Rendered{}, fmt.Errorf("%s/%s.html: %w", lang, m.Template, err)
	}
	return Rendered{Subject: data.Subject, Text: tidyText(text.String()), HTML: html.String(), Lang: lang}, nil
}

// language is the language of locale that has templates: its primary
// subtag ("fr" of "fr-CA", "de" of "de_AT"), else DefaultLanguage.
func (t *Templates) language(locale string) string {
	primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(locale)), "-")
	primary, _, _ = strings.Cut(primary, "_")
	if _, ok := t.sets[primary]; ok {
		return primary
	}
	return DefaultLanguage
}

var blankLines = regexp.MustCompile(`\n[ \t]*\n(?:[ \t]*\n)+`)

// tidyText drops the blank lines a template's empty conditionals leave:
// paragraphs stay one blank line apart, and the text ends in one newline.
func tidyText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = blankLines.ReplaceAllString(s, "\n\n")
	return strings.TrimSpace(s) + "\n"
}

// sources reads template files from the override directory first.
type sources struct {
	embedded, override fs.FS
}

func (s sources) exists(name string) bool {
	if s.override != nil {
		if _, err := fs.Stat(s.override, name); err == nil {
			return true
		}
	}
	_, err := fs.Stat(s.embedded, name)
	return err == nil
}

func (s sources) read(name string) ([]byte, error) {
	if s.override != nil {
		b, err := fs.ReadFile(s.override, name)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return fs.ReadFile(s.embedded, name)
}

// languages are the embedded languages and the override's language
// directories.
func (s sources) languages() ([]string, error) {
	seen := map[string]bool{}
	for _, fsys := range []fs.FS{s.embedded, s.override} {
		if fsys == nil {
			continue
		}
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() && languagePattern.MatchString(e.Name()) {
				seen[e.Name()] = true
			}
		}
	}
	langs := make([]string, 0, len(seen))
	for l := range seen {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	return langs, nil
}

// compile parses one template's text file and, over a copy of the layout,
// its HTML file and the language's fallback line. A file the language
// lacks is taken from DefaultLanguage.
func (s sources) compile(layout *htmltemplate.Template, txtFile, htmlFile, fallbackFile string, fallback []byte) (*compiled, error) {
	if !s.exists(txtFile) {
		txtFile = DefaultLanguage + "/" + path.Base(txtFile)
	}
	if !s.exists(htmlFile) {
		htmlFile = DefaultLanguage + "/" + path.Base(htmlFile)
	}
	txt, err := s.read(txtFile)
	if err != nil {
		return nil, err
	}
	text, err := texttemplate.New(txtFile).Parse(string(txt))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", txtFile, err)
	}
	for _, name := range []string{"subject", "text"} {
		if text.Lookup(name) == nil {
			return nil, fmt.Errorf("%s: defines no %q template", txtFile, name)
		}
	}
	body, err := s.read(htmlFile)
	if err != nil {
		return nil, err
	}
	html, err := layout.Clone()
	if err != nil {
		return nil, err
	}
	if _, err := html.New(fallbackFile).Parse(string(fallback)); err != nil {
		return nil, fmt.Errorf("%s: %w", fallbackFile, err)
	}
	if _, err := html.New(htmlFile).Parse(string(body)); err != nil {
		return nil, fmt.Errorf("%s: %w", htmlFile, err)
	}
	if html.Lookup("body") == nil {
		return nil, fmt.Errorf("%s: defines no \"body\" template", htmlFile)
	}
	return &compiled{text: text, html: html}, nil
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// units are the words for minutes, hours and days, singular and plural, in
// the built-in languages (German in the accusative of "… gültig").
var units = map[string][3][2]string{
	"en": {{"minute", "minutes"}, {"hour", "hours"}, {"day", "days"}},
	"fr": {{"minute", "minutes"}, {"heure", "heures"}, {"jour", "jours"}},
	"de": {{"Minute", "Minuten"}, {"Stunde", "Stunden"}, {"Tag", "Tage"}},
	"es": {{"minuto", "minutos"}, {"hora", "horas"}, {"día", "días"}},
}

// expiresIn writes d in lang ("1 hour", "15 Minuten"), in the largest unit
// that divides it (minutes rounded up); "" for no duration. Languages added
// by an override directory read English units.
func expiresIn(lang string, d time.Duration) string {
	if d <= 0 {
		return ""
	}
	words, ok := units[lang]
	if !ok {
		words = units[DefaultLanguage]
	}
	unit, n := 0, int64((d+time.Minute-1)/time.Minute)
	switch {
	case d%(24*time.Hour) == 0:
		unit, n = 2, int64(d/(24*time.Hour))
	case d%time.Hour == 0:
		unit, n = 1, int64(d/time.Hour)
	}
	word := words[unit][1]
	if n == 1 {
		word = words[unit][0]
	}
	return fmt.Sprintf("%d %s", n, word)
}
