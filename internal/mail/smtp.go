package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"authgate/internal/clock"
)

// Security is how the connection to the SMTP server is protected.
type Security string

// The choices AUTHGATE_SMTP_URL offers.
const (
	// STARTTLS is smtp://: a plain connection that must be upgraded with
	// STARTTLS before anything is sent; a server that does not offer it is
	// refused.
	STARTTLS Security = "STARTTLS"
	// ImplicitTLS is smtps://: TLS from the first byte.
	ImplicitTLS Security = "TLS"
	// NoTLS is smtp://…?tls=none: nothing is encrypted, so it is allowed
	// only to a server on the same machine (a local relay, a mail catcher).
	NoTLS Security = "none"
)

// SMTPConfig says where mail goes and how.
type SMTPConfig struct {
	Host     string
	Port     int
	Security Security
	// Username and Password, when Username is set, authenticate (the best
	// mechanism the server offers, PLAIN or better), only over TLS unless
	// the server is on the loopback.
	Username, Password string
	// RootCAs verify the server's certificate; nil: the system's.
	RootCAs *x509.CertPool
	// Timeout bounds each step of a conversation; zero: DefaultSMTPTimeout.
	Timeout time.Duration
}

// DefaultSMTPTimeout bounds each step of an SMTP conversation.
const DefaultSMTPTimeout = 30 * time.Second

// Address is host:port.
func (c SMTPConfig) Address() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// ParseSMTPURL reads an AUTHGATE_SMTP_URL: smtp://[user:pass@]host[:port]
// (STARTTLS required, port 587 by default), smtps://… (implicit TLS, port
// 465), or smtp://host[:port]?tls=none (no TLS; only to a loopback host).
// Errors never repeat the URL, which may hold a password.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return SMTPConfig{}, errors.New("not a URL: write smtp://user:password@host:587 or smtps://user:password@host:465")
	}
	var c SMTPConfig
	switch u.Scheme {
	case "smtp":
		c.Security, c.Port = STARTTLS, 587
	case "smtps":
		c.Security, c.Port = ImplicitTLS, 465
	default:
		return SMTPConfig{}, fmt.Errorf("scheme %q: use smtp:// (STARTTLS) or smtps:// (implicit TLS)", u.Scheme)
	}
	c.Host = u.Hostname()
	if c.Host == "" || u.Opaque != "" {
		return SMTPConfig{}, errors.New("no host: write smtp://user:password@host:587")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPConfig{}, fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
		c.Port = n
	}
	if u.Path != "" && u.Path != "/" || u.Fragment != "" {
		return SMTPConfig{}, errors.New("a path or fragment means nothing here: write smtp://user:password@host:587")
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	q := u.Query()
	for name := range q {
		if name != "tls" {
			return SMTPConfig{}, fmt.Errorf("unknown parameter %q (the only one is tls=none)", name)
		}
	}
	if q.Has("tls") {
		if q.Get("tls") != "none" || u.Scheme != "smtp" {
			return SMTPConfig{}, errors.New("the only tls parameter is tls=none, on smtp://")
		}
		if !isLoopback(c.Host) {
			return SMTPConfig{}, fmt.Errorf("tls=none (plain SMTP) is allowed only to a loopback host (localhost, 127.0.0.1, ::1), not %s: use smtp:// with STARTTLS or smtps://", c.Host)
		}
		c.Security = NoTLS
	}
	return c, nil
}

// isLoopback reports whether host names this machine without asking DNS.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SMTPSender sends each message over its own SMTP conversation.
type SMTPSender struct {
	cfg   SMTPConfig
	from  *netmail.Address
	clock clock.Clock
}

var _ Sender = (*SMTPSender)(nil)

// NewSMTPSender returns a sender to cfg's server, from from (an address with
// an optional display name). It fails only on a bad from.
func NewSMTPSender(cfg SMTPConfig, from *netmail.Address, clk clock.Clock) (*SMTPSender, error) {
	if from == nil || from.Address == "" {
		return nil, errors.New("a sender address is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultSMTPTimeout
	}
	return &SMTPSender{cfg: cfg, from: from, clock: clk}, nil
}

// Describe names the server and how it is reached, for logs and the CLI:
// "smtp.example.com:587 (STARTTLS)".
func (s *SMTPSender) Describe() string {
	return fmt.Sprintf("%s (%s)", s.cfg.Address(), s.cfg.Security)
}

// Send delivers m and returns the server's answer to it. A failure is a
// *DeliveryError: permanent when the server refused the message itself with
// a 5xx answer, temporary otherwise (4xx answers, connection failures and
// timeouts, and trouble before the message, such as TLS or AUTH, which is
// a matter of the server or the settings, not of this mail).
func (s *SMTPSender) Send(ctx context.Context, m Message) (string, error) {
	msg, err := s.message(m)
	if err != nil {
		return "", &DeliveryError{Permanent: true, Err: err}
	}
	client, err := s.client()
	if err != nil {
		return "", &DeliveryError{Err: err}
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if err != nil && !msg.IsDelivered() {
		return "", classify(err)
	}
	// An error once the server has taken the message (its reset, or the
	// goodbye) does not undo the delivery.
	return msg.ServerResponse(), nil
}

func (s *SMTPSender) client() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: s.cfg.Host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	switch s.cfg.Security {
	case STARTTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.Username != "" {
		// Over TLS, the strongest mechanism the server offers. Without TLS
		// (a loopback server only), PLAIN: go-mail's discovery offers no
		// clear-text mechanism there, and its PLAIN refuses any host but
		// the loopback.
		mechanism := gomail.SMTPAuthAutoDiscover
		if s.cfg.Security == NoTLS {
			mechanism = gomail.SMTPAuthPlain
		}
		opts = append(opts, gomail.WithSMTPAuth(mechanism),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	return gomail.NewClient(s.cfg.Host, opts...)
}

// message builds the MIME message: text with an HTML alternative.
func (s *SMTPSender) message(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(s.from.Name, s.from.Address); err != nil {
		return nil, fmt.Errorf("sender address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("recipient address: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(s.clock.Now())
	msg.SetMessageIDWithValue(messageID(s.from.Address))
	// Automatic mail: out-of-office and other robots must not answer it.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	if m.Lang != "" {
		msg.SetGenHeader("Content-Language", m.Lang)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// messageID is a fresh Message-ID on the sender's domain.
func messageID(from string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails
	domain := "localhost"
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		domain = from[at+1:]
	}
	return hex.EncodeToString(b) + "@" + domain
}

// DeliveryError is a failed delivery.
type DeliveryError struct {
	// Permanent says trying again cannot help: the server refused the
	// message (a 5xx answer), or it cannot be written.
	Permanent bool
	// Code is the server's reply code, 0 when none was given.
	Code int
	Err  error
}

func (e *DeliveryError) Error() string { return e.Err.Error() }

func (e *DeliveryError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a permanent delivery failure.
func IsPermanent(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.Permanent
}

// classify says whether a failed conversation may succeed later.
func classify(err error) *DeliveryError {
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		switch se.Reason {
		case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			// The server answered this message.
			return &DeliveryError{Permanent: code >= 500 && code < 600, Code: code, Err: err}
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			return &DeliveryError{Permanent: true, Code: code, Err: err}
		}
		return &DeliveryError{Code: code, Err: err}
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return &DeliveryError{Code: te.Code, Err: err}
	}
	return &DeliveryError{Err: err}
}
