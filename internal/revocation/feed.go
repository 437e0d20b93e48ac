package revocation

import (
	"context"
	"log/slog"
	"time"

	"github.com/lib/pq"

	"authgate/internal/clock"
)

// Loader reads what the database knows of revocations.
type Loader interface {
	// RecentRevocations reads the revocations that can still matter:
	// cut-offs and session ends after since, denylisted tokens expiring
	// after tokensAfter.
	RecentRevocations(ctx context.Context, since, tokensAfter time.Time) ([]Event, error)
	// LongestAccessTokenLifetime returns the longest access-token lifetime
	// any instance issues under whose tokens may be live after after.
	LongestAccessTokenLifetime(ctx context.Context, after time.Time) (time.Duration, error)
}

// Feed keeps a State current: a full load at start, then every NOTIFY on
// Channel, and a full reload after every (re)connection of the listening
// connection, because notifications sent while it was down are lost.
type Feed struct {
	state  *State
	loader Loader
	clock  clock.Clock
	dsn    string
	logger *slog.Logger
	// Reloaded, when set, is called after every full load (tests watch it).
	Reloaded func()
}

// NewFeed returns a feed that listens on a direct connection to dsn (not
// through a transaction-pooling proxy: LISTEN needs its own session).
func NewFeed(state *State, loader Loader, clk clock.Clock, dsn string, logger *slog.Logger) *Feed {
	return &Feed{state: state, loader: loader, clock: clk, dsn: dsn, logger: logger}
}

// Load sizes the state's window by the longest access-token lifetime the
// database records and merges the database's recent revocations into it.
func (f *Feed) Load(ctx context.Context) error {
	now := f.clock.Now()
	if err := f.resize(ctx, now); err != nil {
		return err
	}
	events, err := f.loader.RecentRevocations(ctx, now.Add(-f.state.Window()), now.Add(-f.state.leeway))
	if err != nil {
		return err
	}
	f.state.Apply(events...)
	f.state.Prune(now)
	if f.Reloaded != nil {
		f.Reloaded()
	}
	return nil
}

// Run listens until ctx ends. It returns only then (or when the listener
// cannot be created at all); connection trouble is retried forever.
func (f *Feed) Run(ctx context.Context) error {
	reconnected := make(chan struct{}, 1)
	listener := pq.NewListener(f.dsn, 100*time.Millisecond, 2*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnected, pq.ListenerEventReconnected:
			select {
			case reconnected <- struct{}{}:
			default:
			}
		case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
			f.logger.Warn("revocation feed: listening connection lost; will reload when it is back", "error", err)
		}
	})
	defer listener.Close()
	if err := listener.Listen(Channel); err != nil {
		return err
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-listener.Notify:
			if n == nil { // the connection was re-established: something may be missed
				f.reload(ctx)
				continue
			}
			e, err := ParseEvent(n.Extra)
			if err != nil {
				f.logger.Warn("revocation feed: ignoring a malformed notification", "error", err)
				continue
			}
			f.state.Apply(e)
		case <-reconnected:
			f.reload(ctx)
		case <-ping.C:
			if err := f.Prune(ctx); err != nil {
				f.logger.Warn("revocation feed: reading the longest access-token lifetime failed; nothing forgotten", "error", err)
			}
			go func() { _ = listener.Ping() }()
		}
	}
}

// Prune re-reads the longest access-token lifetime, then forgets what can
// no longer affect a live token; Run does it every PruneInterval. When the
// lifetime cannot be read nothing is forgotten.
func (f *Feed) Prune(ctx context.Context) error {
	now := f.clock.Now()
	if err := f.resize(ctx, now); err != nil {
		return err
	}
	f.state.Prune(now)
	return nil
}

// resize sizes the window by the longest lifetime of tokens that verification
// may still accept at now (up to leeway past their expiry).
func (f *Feed) resize(ctx context.Context, now time.Time) error {
	longest, err := f.loader.LongestAccessTokenLifetime(ctx, now.Add(-f.state.leeway))
	if err != nil {
		return err
	}
	f.state.SetLongestLifetime(longest)
	return nil
}

func (f *Feed) reload(ctx context.Context) {
	for attempt := 0; ; attempt++ {
		err := f.Load(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		f.logger.Warn("revocation feed: reload failed; retrying", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(min(attempt+1, 10)) * 200 * time.Millisecond):
		}
	}
}
