package password

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// heldHasher is a hasher whose hashes run only when the test lets each
// one finish: started reports the client of each hash as it starts, and a
// send on finish lets one running hash end.
type heldHasher struct {
	*Hasher
	started chan string
	waiting chan struct{}
	finish  chan struct{}
}

func newHeldHasher(t *testing.T, slots int) *heldHasher {
	h := &heldHasher{Hasher: New(tinyParams(), slots, nil), started: make(chan string, 100),
		waiting: make(chan struct{}, 100), finish: make(chan struct{})}
	h.SetMaxWait(time.Hour)
	h.hooks.waiting = func() { h.waiting <- struct{}{} }
	h.hooks.computing = func(client string) func() {
		h.started <- client
		<-h.finish
		return func() {}
	}
	t.Cleanup(func() { close(h.finish) })
	return h
}

// hash starts a hash for client in the background.
func (h *heldHasher) hash(t *testing.T, client string) {
	go func() {
		if _, err := h.Hash(WithClient(context.Background(), client), "pw"); err != nil {
			t.Errorf("hash for %s: %v", client, err)
		}
	}()
}

// One client flooding the hasher cannot starve another: X fills every slot
// (nobody else wants one, so it may) and queues more; Y arrives after X's
// queued calls, and still gets the next free slot, because X holds more
// than its share (half the slots) while Y waits.
func TestAFloodingClientCannotStarveAnother(t *testing.T) {
	h := newHeldHasher(t, 4)
	for range 4 {
		h.hash(t, "X")
	}
	for range 4 {
		if c := receive(t, h.started, "X to fill the slots"); c != "X" {
			t.Fatalf("%s started", c)
		}
	}
	for range 3 {
		h.hash(t, "X")
		receive(t, h.waiting, "X's queued call to wait")
	}
	h.hash(t, "Y")
	receive(t, h.waiting, "Y to wait")

	h.finish <- struct{}{} // one of X's hashes ends
	if c := receive(t, h.started, "the next hash to start"); c != "Y" {
		t.Fatalf("%s got the free slot before Y, which X's flood starves", c)
	}
	// X holds 3 of 4 while Y waits no more: X's queue goes on.
	h.finish <- struct{}{}
	if c := receive(t, h.started, "the next hash to start"); c != "X" {
		t.Fatalf("%s started, want X's queued call", c)
	}
}

// Waiting is first come, first served across clients that are within their
// share: when a slot frees, the client that has waited longest gets it.
func TestWaitingClientsAreServedInTheOrderTheyCame(t *testing.T) {
	h := newHeldHasher(t, 2)
	h.hash(t, "X")
	h.hash(t, "Y")
	receive(t, h.started, "a hash to start")
	receive(t, h.started, "a hash to start")
	for _, c := range []string{"A", "B", "C"} {
		h.hash(t, c)
		receive(t, h.waiting, fmt.Sprintf("%s to wait", c))
	}
	for _, want := range []string{"A", "B", "C"} {
		h.finish <- struct{}{}
		if c := receive(t, h.started, "the next hash to start"); c != want {
			t.Fatalf("%s started, want %s (the longest waiting)", c, want)
		}
	}
}

// granted reports whether w got a slot (nil: at once).
func granted(w *slotWaiter) bool {
	if w == nil {
		return true
	}
	select {
	case <-w.granted:
		return true
	default:
		return false
	}
}

// The share never leaves a slot idle while a call waits: with 3 slots (a
// share of 2), X and Y each at their share fill them all, and a client
// alone in the queue takes whatever is free.
func TestNoSlotIdlesWhileACallWaits(t *testing.T) {
	s := newSlots(3)
	for range 3 {
		if !granted(s.take("X")) {
			t.Fatal("X alone did not get a free slot")
		}
	}
	y := s.take("Y")
	x := s.take("X")
	if granted(y) || granted(x) {
		t.Fatal("a call got a slot while all were taken")
	}
	s.release("X")
	if !granted(y) || granted(x) {
		t.Fatal("the freed slot did not go to Y, below its share")
	}
	s.release("X") // X holds 1 now, Y 1: X's queued call is within its share
	if !granted(x) {
		t.Fatal("X's queued call, within its share, did not get the free slot")
	}
	if s.inUse != 3 || s.held["X"] != 2 || s.held["Y"] != 1 || len(s.queue) != 0 {
		t.Fatalf("in use %d, held %v, queue %d", s.inUse, s.held, len(s.queue))
	}
}

// A call that gives up after it was granted a slot gives it back, and one
// that gives up while waiting leaves the queue, letting the next one in.
func TestAbandonedCallsLeaveNothingBehind(t *testing.T) {
	s := newSlots(2)
	s.take("X")
	s.take("X")
	y := s.take("Y")
	z := s.take("Z")
	s.abandon(y)
	s.release("X")
	if !granted(z) {
		t.Fatal("the slot did not go to Z after Y gave up")
	}
	w := s.take("W")
	s.release("X")
	if !granted(w) {
		t.Fatal("W did not get the free slot")
	}
	s.abandon(w) // granted meanwhile: the slot comes back
	if s.inUse != 1 || s.held["W"] != 0 || len(s.waiting) != 0 || len(s.queue) != 0 {
		t.Fatalf("in use %d, held %v, waiting %v, queue %d", s.inUse, s.held, s.waiting, len(s.queue))
	}
}
