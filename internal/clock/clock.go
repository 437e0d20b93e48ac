// Package clock is authgate's only source of the current time, so that tests
// can move time instead of sleeping.
package clock

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the current time.
type Clock interface {
	Now() time.Time
}

// System is the real wall clock. Times are truncated to microseconds, the
// resolution PostgreSQL stores, so that a value written and read back compares
// equal to the one that was computed.
type System struct{}

// Now returns the current UTC time at microsecond resolution.
func (System) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Fake is a clock that only moves when told to. It is safe for concurrent use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a fake clock standing at t (truncated to microseconds).
func NewFake(t time.Time) *Fake { return &Fake{now: t.UTC().Truncate(time.Microsecond)} }

// Now returns the fake clock's current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d).Truncate(time.Microsecond)
}

// Set moves the clock to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t.UTC().Truncate(time.Microsecond)
}

// Aligned is the production clock: the system clock corrected by its
// measured offset from a reference clock, the database's. Every instant that
// is compared with a revocation (a token's iat, a session's creation, a
// cut-off, a session's end, the instant a NOTIFY carries) comes from it, so
// instances whose system clocks are minutes apart still agree with the
// database, and so with each other, within a round trip: a revocation made
// through any of them kills exactly the tokens issued before it.
//
// Why not now() in the SQL instead: tokens are minted in Go, and every
// other instant the rules compare is computed in Go from the injected clock
// that tests move; putting only some of them in the database's clock would
// mix two clocks in one comparison. Correcting the one clock keeps them all
// in the database's time.
//
// Safe for concurrent use.
type Aligned struct {
	base   Clock
	offset atomic.Int64 // nanoseconds added to base
}

// NewAligned returns a clock reading base until Align has measured an offset.
func NewAligned(base Clock) *Aligned { return &Aligned{base: base} }

// Now returns base's time plus the measured offset, at microsecond resolution.
func (a *Aligned) Now() time.Time {
	return a.base.Now().Add(time.Duration(a.offset.Load())).Truncate(time.Microsecond)
}

// Offset returns the correction Now applies to the base clock.
func (a *Aligned) Offset() time.Duration { return time.Duration(a.offset.Load()) }

// alignSamples is how many readings Align takes; the one with the shortest
// round trip is the most precise.
const alignSamples = 3

// Align reads the reference clock (the database's clock_timestamp()) and
// sets the offset so that Now agrees with it, assuming the reading was taken
// halfway through its round trip: the error is at most half the round trip.
// A new offset within that error of the current one is not adopted, so that
// re-measuring does not make time jitter back and forth. It fails, leaving
// the offset as it was, when reading the reference fails.
func (a *Aligned) Align(ctx context.Context, reference func(context.Context) (time.Time, error)) error {
	var (
		best   time.Duration = -1
		offset time.Duration
	)
	for range alignSamples {
		sent := a.base.Now()
		ref, err := reference(ctx)
		received := a.base.Now()
		if err != nil {
			return err
		}
		if roundTrip := received.Sub(sent); best < 0 || roundTrip < best {
			best, offset = roundTrip, ref.Sub(sent.Add(roundTrip/2))
		}
	}
	if change := offset - a.Offset(); change > best/2 || change < -best/2 {
		a.offset.Store(int64(offset))
	}
	return nil
}
