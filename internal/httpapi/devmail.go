package httpapi

import (
	"html/template"
	"net/http"
	"strings"

	"authgate/internal/mail"
)

// DevMailbox lists the mails development mode kept instead of sending.
type DevMailbox interface {
	// Mails returns the kept mails, newest first.
	Mails() []mail.KeptMail
}

// devMailPage is /dev/mail for a browser: the mails as text, their links
// clickable. No style and no script, so the API's content policy holds.
var devMailPage = template.Must(template.New("devmail").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>authgate development mail</title></head>
<body>
<h1>Mails kept by development mode ({{len .}})</h1>
<p>Newest first. Nothing here was sent: set AUTHGATE_SMTP_URL to send mail.</p>
{{range .}}<hr>
<h2>{{.Subject}}</h2>
<p>To {{.To}} ({{.Template}}), {{.At.Format "2006-01-02 15:04:05 MST"}}</p>
{{if .Link}}<p>Link: <a href="{{.Link}}">{{.Link}}</a></p>{{end}}
{{if .Code}}<p>Code: <strong>{{.Code}}</strong></p>{{end}}
<pre>{{.Text}}</pre>
{{else}}<p>No mail yet.</p>
{{end}}</body>
</html>
`))

// handleDevMail lists the kept mails: JSON ([{at, template, to, subject,
// text, html, link, code}], newest first), or a plain page for a browser
// that asks for HTML.
func (a *api) handleDevMail(w http.ResponseWriter, r *http.Request) {
	mails := a.cfg.DevMail.Mails()
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = devMailPage.Execute(w, mails)
		return
	}
	writeJSON(w, http.StatusOK, mails)
}
