package clock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"authgate/internal/clock"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// reference answers with the instant at, after the base clock has moved by
// roundTrip (half of it before the reading, half after).
func reference(base *clock.Fake, at func() time.Time, roundTrip time.Duration) func(context.Context) (time.Time, error) {
	return func(context.Context) (time.Time, error) {
		base.Advance(roundTrip / 2)
		now := at()
		base.Advance(roundTrip / 2)
		return now, nil
	}
}

func TestAlignedClockAgreesWithItsReference(t *testing.T) {
	base := clock.NewFake(t0)
	c := clock.NewAligned(base)
	if !c.Now().Equal(t0) {
		t.Fatalf("before Align: %s, want the base clock's %s", c.Now(), t0)
	}
	// The reference runs 7 minutes behind the base clock.
	behind := func() time.Time { return base.Now().Add(-7 * time.Minute) }
	if err := c.Align(context.Background(), reference(base, behind, 40*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Now(), behind(); !got.Equal(want) {
		t.Fatalf("aligned Now = %s, want the reference's %s", got, want)
	}
	base.Advance(time.Hour)
	if got, want := c.Now(), behind(); !got.Equal(want) {
		t.Fatalf("an hour on: %s, want %s", got, want)
	}

	// A re-measurement within half its round trip of the current offset
	// leaves it alone; a larger change is adopted.
	offset := c.Offset()
	jittered := func() time.Time { return behind().Add(15 * time.Millisecond) }
	if err := c.Align(context.Background(), reference(base, jittered, 40*time.Millisecond)); err != nil || c.Offset() != offset {
		t.Fatalf("a 15 ms change within a 40 ms round trip: offset %s -> %s, %v", offset, c.Offset(), err)
	}
	drifted := func() time.Time { return behind().Add(time.Second) }
	if err := c.Align(context.Background(), reference(base, drifted, 40*time.Millisecond)); err != nil || c.Offset() != offset+time.Second {
		t.Fatalf("a 1 s drift: offset %s -> %s, %v", offset, c.Offset(), err)
	}

	// A failed reading keeps the last offset.
	offset = c.Offset()
	failing := func(context.Context) (time.Time, error) { return time.Time{}, errors.New("database down") }
	if err := c.Align(context.Background(), failing); err == nil || c.Offset() != offset {
		t.Fatalf("failed reading: %v, offset %s -> %s", err, offset, c.Offset())
	}
}

// Of several readings the one with the shortest round trip sets the offset:
// a reading delayed on its way back is the least precise.
func TestAlignedClockTrustsTheFastestReading(t *testing.T) {
	base := clock.NewFake(t0)
	c := clock.NewAligned(base)
	trips := []time.Duration{400 * time.Millisecond, 2 * time.Millisecond, 300 * time.Millisecond}
	var n int
	err := c.Align(context.Background(), func(context.Context) (time.Time, error) {
		trip := trips[n]
		n++
		base.Advance(trip / 2)
		at := base.Now().Add(time.Minute)
		if trip != 2*time.Millisecond {
			at = at.Add(-trip / 2) // read early, answer delayed: what a slow trip looks like
		}
		base.Advance(trip / 2)
		return at, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Offset() != time.Minute {
		t.Fatalf("offset %s, want the fast reading's 1m0s", c.Offset())
	}
}
