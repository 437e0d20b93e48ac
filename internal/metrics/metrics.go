// Package metrics exposes authgate's Prometheus metrics: requests and their
// latency per operation and outcome, refresh outcomes, sign-in failures and
// lockouts, the database pool, live sessions, the in-memory revocation state,
// mail delivery and the outbox.
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds authgate's collectors, on a registry of its own.
type Metrics struct {
	registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	refreshes     *prometheus.CounterVec
	loginFailures *prometheus.CounterVec
	dbRevocations prometheus.Counter
	liveSessions  atomic.Int64
	mailSent      *prometheus.CounterVec
	mailRetried   *prometheus.CounterVec
	mailFailed    *prometheus.CounterVec
	mailOutbox    atomic.Int64
}

// New registers every collector; db may be nil (no pool statistics).
func New(db *sql.DB) *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_requests_total",
		Help: "Requests by operation (GraphQL field, action name or endpoint) and outcome code (OK or an error code).",
	}, []string{"operation", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "authgate_request_duration_seconds",
		Help:    "Request latency by operation and outcome code.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"operation", "code"})
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_refresh_outcomes_total",
		Help: "Refresh-token uses by outcome: rotated, replayed (grace window), reused (theft detected: session ended), dead, disabled, unknown.",
	}, []string{"outcome"})
	m.loginFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_login_failures_total",
		Help: "Failed sign-ins by code: INVALID_CREDENTIALS, USER_DISABLED, RATE_LIMITED (lockouts and back-off).",
	}, []string{"code"})
	m.dbRevocations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authgate_revocation_database_checks_total",
		Help: "Tokens and sessions checked against the database instead of memory, because the revocation feed was down.",
	})
	live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authgate_live_sessions",
		Help: "Sessions neither revoked nor expired (refreshed every minute).",
	}, func() float64 { return float64(m.liveSessions.Load()) })
	m.mailSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_mail_sent_total",
		Help: "Mails delivered by this instance, by template.",
	}, []string{"template"})
	m.mailRetried = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_mail_retried_total",
		Help: "Temporary mail delivery failures (4xx, connection, timeout) after which the mail is tried again, by template.",
	}, []string{"template"})
	m.mailFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_mail_failed_total",
		Help: "Mails that failed for good, by template and reason: permanent (a 5xx answer), expired (not delivered within 24 h), unreadable (sealed under a secret no longer known).",
	}, []string{"template", "reason"})
	outbox := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authgate_mail_outbox_depth",
		Help: "Mails waiting in the outbox, sent by no instance yet (refreshed every 15 s).",
	}, func() float64 { return float64(m.mailOutbox.Load()) })
	m.registry.MustRegister(m.requests, m.duration, m.refreshes, m.loginFailures, m.dbRevocations, live,
		m.mailSent, m.mailRetried, m.mailFailed, outbox,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		m.registry.MustRegister(collectors.NewDBStatsCollector(db, "authgate"))
	}
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Observe records one operation's outcome and latency. code is "OK" on success.
func (m *Metrics) Observe(operation, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(operation, code).Inc()
	m.duration.WithLabelValues(operation, code).Observe(d.Seconds())
	if operation == "login" && code != "OK" {
		m.loginFailures.WithLabelValues(code).Inc()
	}
}

// Refreshed records a refresh outcome.
func (m *Metrics) Refreshed(outcome string) {
	if m != nil {
		m.refreshes.WithLabelValues(outcome).Inc()
	}
}

// RevocationCheckedInDatabase counts one revocation check made against the
// database because the revocation feed was down.
func (m *Metrics) RevocationCheckedInDatabase() {
	if m != nil {
		m.dbRevocations.Inc()
	}
}

// WatchRevocations exports the size of the in-memory revocation state, read
// at every scrape from size: the users with a recent cut-off, the recently
// ended sessions and the denylisted access tokens every request is checked
// against.
func (m *Metrics) WatchRevocations(size func() (users, sessions, tokens int)) {
	m.registry.MustRegister(revocationCollector{size: size, desc: prometheus.NewDesc("authgate_revocation_entries",
		"Entries of the in-memory revocation state by kind (user cut-offs, ended sessions, denylisted access tokens).",
		[]string{"kind"}, nil)})
}

// revocationCollector reports the three sizes from one call, so a scrape
// sees one consistent state.
type revocationCollector struct {
	size func() (users, sessions, tokens int)
	desc *prometheus.Desc
}

func (c revocationCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c revocationCollector) Collect(ch chan<- prometheus.Metric) {
	users, sessions, tokens := c.size()
	for kind, n := range map[string]int{"user_cutoffs": users, "ended_sessions": sessions, "denylisted_tokens": tokens} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), kind)
	}
}

// TrackLiveSessions refreshes the live-session gauge from count every
// interval until ctx ends.
func (m *Metrics) TrackLiveSessions(ctx context.Context, interval time.Duration, count func(context.Context) (int64, error)) {
	track(ctx, interval, count, &m.liveSessions)
}

// TrackMailOutbox refreshes the outbox-depth gauge from count every
// interval until ctx ends.
func (m *Metrics) TrackMailOutbox(ctx context.Context, interval time.Duration, count func(context.Context) (int64, error)) {
	track(ctx, interval, count, &m.mailOutbox)
}

// MailSent counts a delivered mail.
func (m *Metrics) MailSent(template string) { m.mailSent.WithLabelValues(template).Inc() }

// MailRetried counts a temporary delivery failure.
func (m *Metrics) MailRetried(template string) { m.mailRetried.WithLabelValues(template).Inc() }

// MailFailed counts a mail that failed for good, and why.
func (m *Metrics) MailFailed(template, reason string) {
	m.mailFailed.WithLabelValues(template, reason).Inc()
}

// track stores count's answer in gauge now and every interval until ctx
// ends; a failed count leaves the last value.
func track(ctx context.Context, interval time.Duration, count func(context.Context) (int64, error), gauge *atomic.Int64) {
	update := func() {
		if n, err := count(ctx); err == nil {
			gauge.Store(n)
		}
	}
	update()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			update()
		}
	}
}
