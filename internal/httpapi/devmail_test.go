package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/clock"
	"authgate/internal/httpapi"
	"authgate/internal/mail"
)

func get(t *testing.T, url, accept string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// TestDevMailListsKeptMailsInDevelopmentOnly: /dev/mail exists only when
// development mode keeps mails in memory; it lists them as JSON (newest
// first) or as a plain page for a browser.
func TestDevMailListsKeptMailsInDevelopmentOnly(t *testing.T) {
	off := newServer(t, httpapi.Config{})
	if status, _, _ := get(t, off.url+"/dev/mail", ""); status != http.StatusNotFound {
		t.Fatalf("outside development: %d, want 404", status)
	}

	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	box := mail.NewMemorySender(discardLogger(), clk, 0)
	dev := newServer(t, httpapi.Config{DevMail: box})
	status, _, body := get(t, dev.url+"/dev/mail", "")
	if status != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Fatalf("no mail yet: %d %s", status, body)
	}
	for _, m := range []auth.Mail{
		{Template: auth.MailReset, To: "ann@example.com", Link: "https://app.example.com/?type=reset&token=T1"},
		{Template: auth.MailSignIn, To: "bob@example.com", Link: "https://app.example.com/?type=signin&token=T2", Code: "123456"},
	} {
		if _, err := box.Send(context.Background(), mail.Message{Mail: m, Rendered: mail.Rendered{Subject: "Subject " + m.To, Text: "Text " + m.Link}}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	status, h, body := get(t, dev.url+"/dev/mail", "application/json")
	var got []map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil || status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s: %v", status, body, err)
	}
	if len(got) != 2 || got[0]["to"] != "bob@example.com" || got[0]["subject"] != "Subject bob@example.com" ||
		got[0]["link"] != "https://app.example.com/?type=signin&token=T2" || got[0]["code"] != "123456" ||
		got[0]["text"] != "Text https://app.example.com/?type=signin&token=T2" || got[1]["to"] != "ann@example.com" {
		t.Fatalf("listed %v", got)
	}
	status, h, body = get(t, dev.url+"/dev/mail", "text/html,application/xhtml+xml")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, `<a href="https://app.example.com/?type=signin&amp;token=T2">`) || !strings.Contains(body, "<strong>123456</strong>") ||
		!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("the page: %d %v %s", status, h, body)
	}
}
