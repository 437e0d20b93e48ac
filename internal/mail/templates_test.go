package mail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/mail"
	"authgate/internal/smtptest"
)

func loadTemplates(t *testing.T, dir string) *mail.Templates {
	t.Helper()
	tp, err := mail.LoadTemplates("Acme", dir)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// fullMail fills every field a template may show.
func fullMail(template auth.MailTemplate, locale string) auth.Mail {
	return auth.Mail{Template: template, To: "ann@example.com", Locale: locale, UserID: "00000000-0000-0000-0000-000000000001",
		Link: "https://app.example.com/auth?type=x&token=TOKEN123", Code: "654321", NewEmail: "new@example.com", ExpiresIn: 15 * time.Minute}
}

// TestEveryTemplateInEveryLanguage renders each mail in each built-in
// language: a subject of the language, the link and code where the mail has
// them, the same facts in text and HTML, and nothing left unfilled.
func TestEveryTemplateInEveryLanguage(t *testing.T) {
	tp := loadTemplates(t, "")
	if got := strings.Join(tp.Languages(), ","); got != "de,en,es,fr" {
		t.Fatalf("languages = %s", got)
	}
	subjects := map[string]map[auth.MailTemplate]string{
		"en": {auth.MailVerify: "Confirm your email address for Acme", auth.MailReset: "Reset your Acme password",
			auth.MailSignIn: "Your sign-in link for Acme", auth.MailEmailChange: "Confirm your new email address for Acme",
			auth.MailEmailChangeNotice: "The email address of your Acme account is being changed",
			auth.MailSignupExisting:    "You already have a Acme account", auth.MailTest: "Test email from Acme"},
		"fr": {auth.MailVerify: "Confirmez votre adresse e-mail pour Acme", auth.MailReset: "Réinitialisez votre mot de passe Acme",
			auth.MailSignIn: "Votre lien de connexion à Acme", auth.MailEmailChange: "Confirmez votre nouvelle adresse e-mail pour Acme",
			auth.MailEmailChangeNotice: "L'adresse e-mail de votre compte Acme va changer",
			auth.MailSignupExisting:    "Vous avez déjà un compte Acme", auth.MailTest: "E-mail de test de Acme"},
		"de": {auth.MailVerify: "Bestätigen Sie Ihre E-Mail-Adresse für Acme", auth.MailReset: "Setzen Sie Ihr Passwort für Acme zurück",
			auth.MailSignIn: "Ihr Anmeldelink für Acme", auth.MailEmailChange: "Bestätigen Sie Ihre neue E-Mail-Adresse für Acme",
			auth.MailEmailChangeNotice: "Die E-Mail-Adresse Ihres Acme-Kontos soll geändert werden",
			auth.MailSignupExisting:    "Sie haben bereits ein Konto bei Acme", auth.MailTest: "Test-E-Mail von Acme"},
		"es": {auth.MailVerify: "Confirma tu dirección de correo para Acme", auth.MailReset: "Restablece tu contraseña de Acme",
			auth.MailSignIn: "Tu enlace para iniciar sesión en Acme", auth.MailEmailChange: "Confirma tu nueva dirección de correo para Acme",
			auth.MailEmailChangeNotice: "Se va a cambiar la dirección de correo de tu cuenta de Acme",
			auth.MailSignupExisting:    "Ya tienes una cuenta en Acme", auth.MailTest: "Correo de prueba de Acme"},
	}
	expires := map[string]string{"en": "15 minutes", "fr": "15 minutes", "de": "15 Minuten", "es": "15 minutos"}
	hasLink := map[auth.MailTemplate]bool{auth.MailVerify: true, auth.MailReset: true, auth.MailSignIn: true, auth.MailEmailChange: true}
	for lang, want := range subjects {
		for _, name := range auth.MailTemplates {
			t.Run(lang+"/"+string(name), func(t *testing.T) {
				r, err := tp.Render(fullMail(name, lang))
				if err != nil {
					t.Fatal(err)
				}
				if r.Subject != want[name] || r.Lang != lang {
					t.Errorf("subject %q (%s), want %q", r.Subject, r.Lang, want[name])
				}
				for _, part := range []string{r.Text, r.HTML} {
					for _, leftover := range []string{"{{", "<no value>", "\n\n\n"} {
						if strings.Contains(part, leftover) {
							t.Errorf("%q left in %q", leftover, part)
						}
					}
					if !strings.Contains(part, "Acme") {
						t.Errorf("no product name in %q", part)
					}
				}
				if hasLink[name] {
					if !strings.Contains(r.Text, "\nhttps://app.example.com/auth?type=x&token=TOKEN123\n") ||
						!strings.Contains(r.HTML, `href="https://app.example.com/auth?type=x&amp;token=TOKEN123"`) {
						t.Errorf("the link is missing: %q / %q", r.Text, r.HTML)
					}
					if !strings.Contains(r.Text, expires[lang]) || !strings.Contains(r.HTML, expires[lang]) {
						t.Errorf("no %q in %q", expires[lang], r.Text)
					}
				}
				if name == auth.MailSignIn && (!strings.Contains(r.Text, "\n    654321\n") || !strings.Contains(r.HTML, ">654321</p>")) {
					t.Errorf("the code is missing: %q", r.Text)
				}
				if name == auth.MailEmailChangeNotice && (!strings.Contains(r.Text, "new@example.com") || strings.Contains(r.Text, "TOKEN123")) {
					t.Errorf("the notice must name the new address and carry no link: %q", r.Text)
				}
			})
		}
	}
}

// TestLocaleChoosesTheLanguage falls back to English for languages without
// templates and reads regional tags by their language.
func TestLocaleChoosesTheLanguage(t *testing.T) {
	tp := loadTemplates(t, "")
	for locale, want := range map[string]string{"": "en", "fr": "fr", "fr-CA": "fr", "DE_at": "de", "es-419": "es", "pt-BR": "en", "x": "en", "en-GB": "en"} {
		r, err := tp.Render(fullMail(auth.MailVerify, locale))
		if err != nil || r.Lang != want {
			t.Errorf("locale %q: %s, %v; want %s", locale, r.Lang, err, want)
		}
	}
}

// TestExpiryIsWrittenInTheReadersWords checks units and plurals.
func TestExpiryIsWrittenInTheReadersWords(t *testing.T) {
	tp := loadTemplates(t, "")
	cases := []struct {
		lang string
		d    time.Duration
		want string
	}{
		{"en", time.Hour, "expires in 1 hour."},
		{"en", 2 * time.Hour, "expires in 2 hours."},
		{"en", 90 * time.Second, "expires in 2 minutes."},
		{"en", 48 * time.Hour, "expires in 2 days."},
		{"fr", time.Hour, "expire dans 1 heure."},
		{"fr", 24 * time.Hour, "expire dans 1 jour."},
		{"de", time.Hour, "ist 1 Stunde gültig."},
		{"de", 72 * time.Hour, "ist 3 Tage gültig."},
		{"es", time.Minute, "caduca en 1 minuto."},
		{"es", 3 * time.Hour, "caduca en 3 horas."},
	}
	for _, c := range cases {
		m := fullMail(auth.MailVerify, c.lang)
		m.ExpiresIn = c.d
		r, err := tp.Render(m)
		if err != nil || !strings.Contains(r.Text, c.want) {
			t.Errorf("%s %s: %v, want %q in %q", c.lang, c.d, err, c.want, r.Text)
		}
	}
	m := fullMail(auth.MailVerify, "de")
	m.ExpiresIn = 0
	if r, _ := tp.Render(m); strings.Contains(r.Text, "gültig") || strings.Contains(r.Text, "\n\n\n") {
		t.Errorf("a mail without expiry speaks of one: %q", r.Text)
	}
}

// TestHTMLEscapesWhatItShows keeps a product name with markup text.
func TestHTMLEscapesWhatItShows(t *testing.T) {
	tp, err := mail.LoadTemplates(`<b>Acme</b> & Co`, "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tp.Render(fullMail(auth.MailReset, "en"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<b>Acme") || !strings.Contains(r.HTML, "&lt;b&gt;Acme&lt;/b&gt; &amp; Co") {
		t.Fatalf("html = %s", r.HTML)
	}
	if !strings.Contains(r.Subject, "<b>Acme</b> & Co") {
		t.Fatalf("subject = %s", r.Subject)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestOverrideDirectoryReplacesFilesAndAddsLanguages: a file in
// AUTHGATE_MAIL_TEMPLATES replaces the built-in one of the same path; the
// rest stay; a new language directory adds a language, its missing
// templates read English.
func TestOverrideDirectoryReplacesFilesAndAddsLanguages(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"fr/reset.txt":  `{{define "subject"}}Nouveau mot de passe pour {{.AppName}}{{end}}{{define "text"}}Cliquez : {{.Link}}{{end}}`,
		"layout.html":   `{{define "layout"}}<html lang="{{.Lang}}"><main>{{template "body" .}}</main></html>{{end}}{{define "button"}}<a href="{{.Link}}">{{end}}{{define "buttonEnd"}}</a>{{end}}{{define "fallbackLink"}}{{end}}{{define "code"}}<b>{{.Code}}</b>{{end}}`,
		"it/reset.txt":  `{{define "subject"}}Reimposta la password di {{.AppName}}{{end}}{{define "text"}}Apri questo link: {{.Link}}{{end}}`,
		"it/reset.html": `{{define "body"}}<p>Apri questo link: {{template "button" .}}Reimposta{{template "buttonEnd" .}}</p>{{end}}`,
		"notes.md":      "not a template",
	})
	tp := loadTemplates(t, dir)
	if got := strings.Join(tp.Languages(), ","); got != "de,en,es,fr,it" {
		t.Fatalf("languages = %s", got)
	}
	fr, err := tp.Render(fullMail(auth.MailReset, "fr"))
	if err != nil {
		t.Fatal(err)
	}
	if fr.Subject != "Nouveau mot de passe pour Acme" || fr.Text != "Cliquez : https://app.example.com/auth?type=x&token=TOKEN123\n" {
		t.Fatalf("overridden fr/reset.txt: %q %q", fr.Subject, fr.Text)
	}
	if !strings.HasPrefix(fr.HTML, `<html lang="fr"><main>`) || !strings.Contains(fr.HTML, "Réinitialisez") && !strings.Contains(fr.HTML, "ouvrez ce lien") {
		t.Fatalf("built-in fr/reset.html in the overridden layout: %q", fr.HTML)
	}
	de, _ := tp.Render(fullMail(auth.MailReset, "de"))
	if de.Subject != "Setzen Sie Ihr Passwort für Acme zurück" {
		t.Fatalf("de/reset untouched: %q", de.Subject)
	}
	it, _ := tp.Render(fullMail(auth.MailReset, "it-IT"))
	if it.Lang != "it" || it.Subject != "Reimposta la password di Acme" || !strings.Contains(it.HTML, `<a href="https://app.example.com/auth?type=x&amp;token=TOKEN123">Reimposta</a>`) {
		t.Fatalf("the added language: %+v", it)
	}
	itVerify, _ := tp.Render(fullMail(auth.MailVerify, "it"))
	if itVerify.Lang != "en" || itVerify.Subject != "Confirm your email address for Acme" {
		t.Fatalf("a template the added language lacks: %+v", itVerify)
	}
}

// TestBrokenOverridesFailAtStartUp names the file at fault.
func TestBrokenOverridesFailAtStartUp(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"a syntax error", map[string]string{"es/verify.txt": `{{define "subject"}}{{.AppName{{end}}`}, "es/verify.txt"},
		{"a missing define", map[string]string{"de/signin.txt": `{{define "subject"}}Hallo{{end}}`}, `de/signin.txt: defines no "text"`},
		{"an unknown field", map[string]string{"en/test.html": `{{define "body"}}{{.Password}}{{end}}`}, "en/test.html"},
		{"a broken layout", map[string]string{"layout.html": `{{define "layout"}}<a href="{{.Link}}{{end}}`}, "layout.html"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := mail.LoadTemplates("Acme", writeFiles(t, c.files))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadTemplates = %v, want an error naming %q", err, c.want)
			}
		})
	}
	if _, err := mail.LoadTemplates("Acme", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing directory was accepted")
	}
}

// TestMailsArriveInTheirReadersLanguage sends one reset mail per locale
// through the worker and the SMTP server and reads each back as MIME.
func TestMailsArriveInTheirReadersLanguage(t *testing.T) {
	f := newFixture(t, smtptest.Options{})
	want := map[string]string{ // recipient's locale -> subject
		"en": "Reset your Acme password", "fr-FR": "Réinitialisez votre mot de passe Acme",
		"de": "Setzen Sie Ihr Passwort für Acme zurück", "es": "Restablece tu contraseña de Acme",
		"pt-BR": "Reset your Acme password",
	}
	language := map[string]string{"en": "en", "fr-FR": "fr", "de": "de", "es": "es", "pt-BR": "en"}
	for locale := range want {
		m := resetMail(locale)
		m.To = locale + "@example.com"
		f.enqueue(t, m)
	}
	if res := runOnce(t, f.worker(f.env.Store, f.smtpSender(t))); res.Sent != len(want) {
		t.Fatalf("RunOnce = %+v", res)
	}
	locales := map[string]string{} // recipient (stored lower-cased) -> locale
	for locale := range want {
		locales[strings.ToLower(locale)+"@example.com"] = locale
	}
	for _, msg := range f.smtp.Messages() {
		locale := locales[msg.To[0]]
		pm := parse(t, msg)
		if pm.Subject != want[locale] {
			t.Errorf("%s: subject %q, want %q", locale, pm.Subject, want[locale])
		}
		if pm.Header.Get("Content-Language") != language[locale] || !strings.Contains(pm.HTML, `<html lang="`+language[locale]+`">`) {
			t.Errorf("%s: Content-Language %q", locale, pm.Header.Get("Content-Language"))
		}
		if pm.Link() != resetMail("").Link {
			t.Errorf("%s: link %q", locale, pm.Link())
		}
	}
}
