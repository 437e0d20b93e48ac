package smtptest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
)

// Mail is a received message read as MIME.
type Mail struct {
	Header  mail.Header
	From    string
	To      string
	Subject string
	// Text and HTML are the decoded text/plain and text/html parts ("" when
	// the mail has none).
	Text string
	HTML string
}

// Parse reads a message as MIME: its headers (encoded words decoded) and
// its text and HTML bodies, from a single part or from nested multipart
// parts, with their transfer encoding undone.
func Parse(raw []byte) (*Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("smtptest: reading the message: %w", err)
	}
	dec := new(mime.WordDecoder)
	header := func(name string) string {
		v, err := dec.DecodeHeader(msg.Header.Get(name))
		if err != nil {
			return msg.Header.Get(name)
		}
		return v
	}
	m := &Mail{Header: msg.Header, From: header("From"), To: header("To"), Subject: header("Subject")}
	if err := m.readPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return nil, err
	}
	return m, nil
}

// Parse reads the message as MIME (see the package function Parse).
func (m Message) Parse() (*Mail, error) { return Parse(m.Data) }

func (m *Mail) readPart(contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("smtptest: Content-Type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("smtptest: reading a part: %w", err)
			}
			if err := m.readPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("smtptest: decoding a %s part: %w", mediaType, err)
	}
	switch mediaType {
	case "text/plain":
		m.Text += string(b)
	case "text/html":
		m.HTML += string(b)
	}
	return nil
}

// newlineStripper drops the line breaks of base64 text.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	got, err := n.r.Read(p)
	kept := 0
	for _, c := range p[:got] {
		if c != '\r' && c != '\n' {
			p[kept] = c
			kept++
		}
	}
	return kept, err
}

var (
	linkPattern = regexp.MustCompile(`https?://[^\s<>"']+`)
	codePattern = regexp.MustCompile(`(?m)^[ \t]*(\d{6})[ \t]*\r?$`)
)

// Links returns every http(s) URL in the text part, in order.
func (m *Mail) Links() []string { return linkPattern.FindAllString(m.Text, -1) }

// Link returns the first URL in the text part that carries a token query
// parameter, else the first URL, else "".
func (m *Mail) Link() string {
	links := m.Links()
	for _, l := range links {
		if strings.Contains(l, "token=") {
			return l
		}
	}
	if len(links) > 0 {
		return links[0]
	}
	return ""
}

// Code returns the 6-digit code that stands alone on a line of the text
// part, or "".
func (m *Mail) Code() string {
	if c := codePattern.FindStringSubmatch(m.Text); c != nil {
		return c[1]
	}
	return ""
}
