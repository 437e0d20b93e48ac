package mail_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/mail"
	"authgate/internal/metrics"
	"authgate/internal/pgtest"
	"authgate/internal/sealbox"
	"authgate/internal/smtptest"
	"authgate/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var bg = context.Background()

// outboxSecret keys the fixture's sealbox (AUTHGATE_REFRESH_TOKEN_SECRET).
var outboxSecret = []byte("outbox-secret-0123456789abcdef0123456789")

// fixture is an authgate service with mail delivery set up, an SMTP server
// and everything the worker needs, on a fresh database and a fake clock.
type fixture struct {
	env       *authtest.Env
	box       *sealbox.Box
	templates *mail.Templates
	smtp      *smtptest.Server
	metrics   *metrics.Metrics
	logs      *lockedBuffer
	db        *sql.DB
}

func newFixture(t *testing.T, opts smtptest.Options) *fixture {
	t.Helper()
	box, err := sealbox.New("mail outbox", outboxSecret)
	if err != nil {
		t.Fatal(err)
	}
	cfg := authtest.DefaultConfig()
	cfg.Mail = auth.MailConfig{Sealer: box, Delivered: true}
	env := authtest.New(t, cfg)
	templates, err := mail.LoadTemplates("Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", env.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &fixture{env: env, box: box, templates: templates, smtp: smtptest.Start(t, opts),
		metrics: metrics.New(nil), logs: &lockedBuffer{}, db: db}
}

// smtpSender sends to the fixture's server as its URL says, trusting its
// certificate.
func (f *fixture) smtpSender(t *testing.T) *mail.SMTPSender {
	t.Helper()
	return f.senderFor(t, f.smtp.URL())
}

func (f *fixture) senderFor(t *testing.T, url string) *mail.SMTPSender {
	t.Helper()
	cfg, err := mail.ParseSMTPURL(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs, cfg.Timeout = f.smtp.RootCAs(), 5*time.Second
	s, err := mail.NewSMTPSender(cfg, &netmail.Address{Name: "Acme", Address: "no-reply@acme.test"}, f.env.Clock)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// worker is a worker on st (an instance's store) sending through sender.
func (f *fixture) worker(st *store.Store, sender mail.Sender) *mail.Worker {
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return mail.NewWorker(st, f.box, f.templates, sender, f.env.Clock, logger, f.metrics, mail.WorkerConfig{})
}

// instance opens another store on the fixture's database: another authgate
// instance, or the same one after a restart.
func (f *fixture) instance(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(bg, f.env.DatabaseURL, store.PoolConfig{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// enqueue writes m to the outbox through the service, as the flows do.
func (f *fixture) enqueue(t *testing.T, m auth.Mail) {
	t.Helper()
	if err := f.env.Service.SendMail(bg, m); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
}

// runOnce runs w once and fails the test on error.
func runOnce(t *testing.T, w *mail.Worker) mail.RunResult {
	t.Helper()
	res, err := w.RunOnce(bg)
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return res
}

// outboxRow is one mail as the database holds it.
type outboxRow struct {
	payload             []byte
	attempts            int
	next                time.Time
	lastError           sql.NullString
	sentAt, failedAt    sql.NullTime
	template, recipient string
}

func (f *fixture) rows(t *testing.T) []outboxRow {
	t.Helper()
	rs, err := f.db.Query(`SELECT payload, attempts, next_attempt_at, last_error, sent_at, failed_at, template, recipient
FROM auth.mail_outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []outboxRow
	for rs.Next() {
		var r outboxRow
		if err := rs.Scan(&r.payload, &r.attempts, &r.next, &r.lastError, &r.sentAt, &r.failedAt, &r.template, &r.recipient); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// audit returns the mail events of the trail as event and detail text.
func (f *fixture) audit(t *testing.T) []string {
	t.Helper()
	rs, err := f.db.Query(`SELECT event || ' ' || COALESCE(user_id::text, '-') || ' ' || detail::text FROM auth.audit_events
WHERE event LIKE 'mail_%' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// parse reads a received message as MIME.
func parse(t *testing.T, m smtptest.Message) *smtptest.Mail {
	t.Helper()
	p, err := m.Parse()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// scrape returns the metrics' text.
func (f *fixture) scrape(t *testing.T) string {
	t.Helper()
	return scrapeMetrics(t, f.metrics)
}

// lockedBuffer is a goroutine-safe log sink.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// resetMail is a reset mail for ann, with a token that must never show
// anywhere but in the mail itself.
const resetToken = "RESET-TOKEN-4f7c2a9d1e"

func resetMail(locale string) auth.Mail {
	return auth.Mail{Template: auth.MailReset, To: "Ann@Example.com", Locale: locale,
		Link: "https://app.example.com/auth?type=reset&token=" + resetToken, ExpiresIn: time.Hour}
}

// wantNoSecret fails when s holds the reset token.
func wantNoSecret(t *testing.T, where, s string) {
	t.Helper()
	if strings.Contains(s, resetToken) {
		t.Fatalf("%s holds the token: %s", where, s)
	}
}
