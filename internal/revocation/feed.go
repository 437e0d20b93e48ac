package revocation

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
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
// connection, because notifications sent while it was down are lost. From
// NewFeed on, the state counts as current (State.Current) only while the
// listening connection is up and answers, and a load has completed since it
// came up: otherwise callers check tokens against the database.
type Feed struct {
	state  *State
	loader Loader
	clock  clock.Clock
	dsn    string
	logger *slog.Logger
	// Reloaded, when set, is called after every full load Run makes (tests
	// watch it); the state is current by then if the connection still is up.
	Reloaded func()
	// PingInterval is how often Run prunes the state and pings the listening
	// connection; a ping still unanswered at the next tick marks the state
	// not current (a connection cut without a reset looks healthy to lib/pq
	// for minutes). Zero means 15 s.
	PingInterval time.Duration

	mu sync.Mutex
	// up: the listening connection is up; epoch counts its ups and downs,
	// so that a load that raced a drop does not mark the state current.
	up    bool
	epoch uint64
}

// NewFeed returns a feed that listens on a direct connection to dsn (not
// through a transaction-pooling proxy: LISTEN needs its own session). The
// state is not current until Run has connected and loaded.
func NewFeed(state *State, loader Loader, clk clock.Clock, dsn string, logger *slog.Logger) *Feed {
	state.stale.Store(true)
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
	return nil
}

// Run listens until ctx ends, and returns promptly then, whatever state the
// listening connection is in: nothing here waits on lib/pq's Listen or
// Close, which block while the server cannot be reached. Connection trouble
// is retried for ever; Run returns early only when LISTEN itself is refused.
// When Run returns the state is no longer current.
func (f *Feed) Run(ctx context.Context) error {
	defer f.setUp(false)
	connected := make(chan struct{}, 1)
	listener := pq.NewListener(f.dsn, 100*time.Millisecond, 2*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnected, pq.ListenerEventReconnected:
			f.setUp(true)
			select {
			case connected <- struct{}{}:
			default:
			}
		case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
			if f.setUp(false) {
				f.logger.Warn("revocation feed: listening connection lost; checking tokens against the database until it is back", "error", err)
			}
		}
	})
	defer func() {
		// Close can wait on a connection that does not answer; its
		// goroutines end once it gives up. Notifications still in flight
		// are drained so that lib/pq's loop is never stuck sending them.
		go func() {
			_ = listener.Close()
			for range listener.Notify {
			}
		}()
	}()
	listened := make(chan error, 1)
	go func() { listened <- listener.Listen(Channel) }()

	interval := cmp.Or(f.PingInterval, 15*time.Second)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	pong := make(chan error, 1)
	pinging, stalled := false, false
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-listened:
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("revocation feed: LISTEN %s: %w", Channel, err)
			}
		case n := <-listener.Notify:
			if n == nil { // re-established: the Reconnected event reloads
				continue
			}
			e, err := ParseEvent(n.Extra)
			if err != nil {
				f.logger.Warn("revocation feed: ignoring a malformed notification", "error", err)
				continue
			}
			f.state.Apply(e)
		case <-connected:
			f.reload(ctx)
		case <-tick.C:
			if err := f.Prune(ctx); err != nil {
				f.logger.Warn("revocation feed: reading the longest access-token lifetime failed; nothing forgotten", "error", err)
			}
			if pinging {
				if !stalled && f.setUp(false) {
					f.logger.Warn("revocation feed: the listening connection does not answer; checking tokens against the database until it does")
				}
				stalled = true
				continue
			}
			pinging = true
			go func() { pong <- listener.Ping() }()
		case err := <-pong:
			pinging = false
			if stalled && err == nil {
				// It answers again: whatever it held back has arrived, but
				// reload rather than rely on that.
				stalled = false
				f.setUp(true)
				f.reload(ctx)
			}
		}
	}
}

// setUp records whether the listening connection is up; a drop makes the
// state stale at once. It reports whether the connection was up before.
func (f *Feed) setUp(up bool) (wasUp bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wasUp = f.up
	f.up = up
	f.epoch++
	if !up {
		f.state.stale.Store(true)
	}
	return wasUp
}

// connection returns the connection's epoch and whether it is up.
func (f *Feed) connection() (uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch, f.up
}

// markCurrent makes the state current after a load that started at epoch,
// unless the connection has dropped (or dropped and come back) since.
func (f *Feed) markCurrent(epoch uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.up && f.epoch == epoch {
		f.state.stale.Store(false)
	}
}

// Prune re-reads the longest access-token lifetime, then forgets what can
// no longer affect a live token; Run does it every PingInterval. When the
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

// reload loads in full, retrying until it succeeds or ctx ends, then marks
// the state current if the connection stayed up meanwhile.
func (f *Feed) reload(ctx context.Context) {
	for attempt := 0; ; attempt++ {
		epoch, _ := f.connection()
		err := f.Load(ctx)
		if err == nil {
			f.markCurrent(epoch)
			if f.Reloaded != nil {
				f.Reloaded()
			}
			return
		}
		if ctx.Err() != nil {
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
