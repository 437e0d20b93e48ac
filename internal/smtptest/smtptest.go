// Package smtptest runs a real SMTP server inside a test (built on
// github.com/emersion/go-smtp): STARTTLS or implicit TLS with a certificate
// made at run time, AUTH PLAIN, every message recorded; it can be told to
// refuse the next messages with a temporary (421) or permanent (550) answer,
// or be stopped and started again on the same port. Parse reads a received
// mail as MIME and finds its link and code.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Security is how the server protects its connections.
type Security int

// The kinds of server.
const (
	// StartTLS offers STARTTLS on a plain connection (smtp://); AUTH is
	// offered only once TLS is up.
	StartTLS Security = iota
	// ImplicitTLS speaks TLS from the first byte (smtps://).
	ImplicitTLS
	// Plain offers no TLS at all; AUTH is offered in the clear.
	Plain
)

// Options configure a Server.
type Options struct {
	Security Security
	// Username and Password, when set, are required through AUTH PLAIN
	// before a message is accepted.
	Username, Password string
}

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	// TLS says the message came over an encrypted connection; AuthUser is
	// the user that authenticated ("" for none).
	TLS      bool
	AuthUser string
}

// Server is a running test SMTP server. Its methods are safe for
// concurrent use.
type Server struct {
	opts Options
	cert tls.Certificate
	pool *x509.CertPool
	addr string

	mu       sync.Mutex
	srv      *smtp.Server
	served   chan struct{}
	messages []Message
	changed  chan struct{} // closed and replaced whenever messages grow
	failures int           // how many of the next messages get failCode
	failCode int
	refused  int // messages refused so far
}

// Start runs a server on a free loopback port until t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	cert, pool, err := testCertificate()
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	s := &Server{opts: opts, cert: cert, pool: pool, addr: "127.0.0.1:0", changed: make(chan struct{})}
	if err := s.listen(); err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port; it stays the same across Stop and Restart.
func (s *Server) Addr() string { return s.addr }

// Host is the server's IP address.
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.addr); return h }

// Port is the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// URL is an AUTHGATE_SMTP_URL for this server: smtps:// for implicit TLS,
// smtp:// otherwise (with ?tls=none for a Plain server), with the
// credentials in it.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.addr}
	switch s.opts.Security {
	case ImplicitTLS:
		u.Scheme = "smtps"
	case Plain:
		u.RawQuery = "tls=none"
	}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	return u.String()
}

// RootCAs holds the certificate authority of the server's certificate, for
// the client's TLS configuration.
func (s *Server) RootCAs() *x509.CertPool { return s.pool }

// FailNext makes the server answer the next n messages' data with code:
// 421 (temporary) or 550 (permanent) are the ones tests use; any 4xx or
// 5xx code works.
func (s *Server) FailNext(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures, s.failCode = n, code
}

// Refused counts the messages the server refused because of FailNext.
func (s *Server) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Stop closes the listener and every connection: connecting is refused
// until Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, served := s.srv, s.served
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	<-served
}

// Restart listens again on the same address. It fails t when the port has
// been taken meanwhile.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.listen(); err != nil {
		t.Fatalf("smtptest: restarting: %v", err)
	}
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitForMessages waits until at least n messages have arrived, for at most
// timeout, and returns them; it fails t when they do not come.
func (s *Server) WaitForMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := append([]Message(nil), s.messages...), s.changed
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smtptest: %d message(s) arrived within %s, want %d", len(got), timeout, n)
		}
	}
}

func (s *Server) listen() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{server: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	switch s.opts.Security {
	case StartTLS:
		srv.TLSConfig = tlsConfig
	case ImplicitTLS:
		ln = tls.NewListener(ln, tlsConfig)
	case Plain:
		srv.AllowInsecureAuth = true
	}
	served := make(chan struct{})
	s.mu.Lock()
	s.addr, s.srv, s.served = ln.Addr().String(), srv, served
	s.mu.Unlock()
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	return nil
}

// record keeps an accepted message, or refuses it when told to.
func (s *Server) record(m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures > 0 {
		s.failures--
		s.refused++
		return refusal(s.failCode)
	}
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// refusal is the server's answer with code.
func refusal(code int) *smtp.SMTPError {
	if code/100 == 4 {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Service not available, try again later"}
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Mailbox unavailable"}
}

// session is one client connection's transaction state.
type session struct {
	server   *Server
	conn     *smtp.Conn
	authUser string
	from     string
	to       []string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string {
	if s.server.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || s.server.opts.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.server.opts.Username || password != s.server.opts.Password {
			return smtp.ErrAuthFailed
		}
		s.authUser = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.server.opts.Username != "" && s.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, tlsOn := s.conn.TLSConnectionState()
	return s.server.record(Message{From: s.from, To: s.to, Data: data, TLS: tlsOn, AuthUser: s.authUser})
}

func (s *session) Reset() { s.from, s.to = "", nil }

func (s *session) Logout() error { return nil }

// testCertificate makes a self-signed certificate for the loopback
// addresses and localhost, and a pool that trusts it.
func testCertificate() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("making the test certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
