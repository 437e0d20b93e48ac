package password

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receive returns the next value from ch. The timeout only turns a hang into
// a failure; it never orders events.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}

// fillSlots takes every hashing slot of h until the test ends or the returned
// function gives one back.
func fillSlots(t *testing.T, h *Hasher) (freeOne func()) {
	const client = "slot filler"
	held := h.slots.capacity
	for range held {
		if h.slots.take(client) != nil {
			t.Fatal("fillSlots: no free slot")
		}
	}
	t.Cleanup(func() {
		for ; held > 0; held-- {
			h.slots.release(client)
		}
	})
	return func() { held--; h.slots.release(client) }
}

// operations are the three calls that hash, each run against h.
func operations(t *testing.T) map[string]func(ctx context.Context, h *Hasher) error {
	argonHash := mustHash(t, New(tinyParams(), 1, nil), "pw")
	return map[string]func(ctx context.Context, h *Hasher) error{
		"Hash": func(ctx context.Context, h *Hasher) error {
			_, err := h.Hash(ctx, "pw")
			return err
		},
		"Verify argon2id": func(ctx context.Context, h *Hasher) error {
			_, _, err := h.Verify(ctx, argonHash, "pw")
			return err
		},
		"Verify bcrypt": func(ctx context.Context, h *Hasher) error {
			_, _, err := h.Verify(ctx, pgcryptoHash, "pw")
			return err
		},
		"VerifyDummy": func(ctx context.Context, h *Hasher) error {
			return h.VerifyDummy(ctx, "pw")
		},
	}
}

func TestConcurrentHashesAreBounded(t *testing.T) {
	const maxConcurrent = 2
	const callsPerOperation = 3
	h := New(tinyParams(), maxConcurrent, nil)
	// Slots free when the test opens the gate, never by the wait limit.
	h.SetMaxWait(time.Hour)

	ops := operations(t)
	calls := callsPerOperation * len(ops)
	var running, peak atomic.Int32
	entered := make(chan struct{}, calls+1)
	waiting := make(chan struct{}, calls+1)
	gate := make(chan struct{})
	openGate := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(openGate)
	h.hooks.waiting = func() { waiting <- struct{}{} }
	h.hooks.computing = func(string) func() {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		entered <- struct{}{}
		<-gate
		return func() { running.Add(-1) }
	}

	errs := make(chan error, calls)
	var wg sync.WaitGroup
	for range callsPerOperation {
		for _, op := range ops {
			wg.Go(func() { errs <- op(t.Context(), h) })
		}
	}

	// Every call has now either started hashing or is waiting for a slot; an
	// unbounded hasher would let a third call start instead of waiting.
	for range maxConcurrent {
		receive(t, entered, "a call to start hashing")
	}
	for waited := 0; waited < calls-maxConcurrent; {
		select {
		case <-waiting:
			waited++
		case <-entered:
			t.Fatalf("a call started hashing while %d were running, want at most %d", maxConcurrent, maxConcurrent)
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for calls to wait for a slot; %d of %d are waiting", waited, calls-maxConcurrent)
		}
	}
	if n := running.Load(); n != maxConcurrent {
		t.Fatalf("%d hashes running, want %d", n, maxConcurrent)
	}

	// While all slots are taken, a waiting call whose context ends gives up
	// at once instead of queueing.
	ctx, cancel := context.WithCancel(t.Context())
	late := make(chan error, 1)
	go func() { late <- h.VerifyDummy(ctx, "pw") }()
	receive(t, waiting, "the late call to wait for a slot")
	cancel()
	if err := receive(t, late, "the cancelled call to return"); !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiting call = %v, want ErrBusy wrapping context.Canceled", err)
	}

	openGate()
	allDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(allDone)
	}()
	receive(t, allDone, "all calls to finish")
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call failed: %v", err)
		}
	}
	if p := peak.Load(); p != maxConcurrent {
		t.Errorf("at most %d hashes ran at once, want exactly %d", p, maxConcurrent)
	}
}

func TestWaitingCallGivesUpWithErrBusy(t *testing.T) {
	tests := []struct {
		name string
		// run calls op on a hasher whose slots are all taken.
		run        func(t *testing.T, h *Hasher, op func(context.Context, *Hasher) error) error
		wantCause  error
		wantWaited bool
	}{
		{
			name: "context cancelled while waiting returns ErrBusy at once",
			run: func(t *testing.T, h *Hasher, op func(context.Context, *Hasher) error) error {
				ctx, cancel := context.WithCancel(t.Context())
				waiting := make(chan struct{}, 1)
				h.hooks.waiting = func() { waiting <- struct{}{} }
				result := make(chan error, 1)
				go func() { result <- op(ctx, h) }()
				receive(t, waiting, "the call to wait for a slot")
				cancel()
				return receive(t, result, "the cancelled call to return")
			},
			wantCause:  context.Canceled,
			wantWaited: true,
		},
		{
			name: "wait limit passing returns ErrBusy",
			run: func(t *testing.T, h *Hasher, op func(context.Context, *Hasher) error) error {
				h.SetMaxWait(time.Millisecond)
				return op(t.Context(), h)
			},
			wantWaited: true,
		},
		{
			name: "context deadline passing while waiting returns ErrBusy",
			run: func(t *testing.T, h *Hasher, op func(context.Context, *Hasher) error) error {
				ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
				defer cancel()
				return op(ctx, h)
			},
			wantCause:  context.DeadlineExceeded,
			wantWaited: true,
		},
		{
			name: "context cancelled before the call returns ErrBusy without waiting",
			run: func(t *testing.T, h *Hasher, op func(context.Context, *Hasher) error) error {
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				return op(ctx, h)
			},
			wantCause: context.Canceled,
		},
	}
	for _, tt := range tests {
		for opName, op := range operations(t) {
			t.Run(tt.name+"/"+opName, func(t *testing.T) {
				h := New(tinyParams(), 2, nil)
				computations := countComputations(h)
				var waited atomic.Bool
				h.hooks.waiting = func() { waited.Store(true) }
				fillSlots(t, h)

				err := tt.run(t, h, op)
				if !errors.Is(err, ErrBusy) {
					t.Fatalf("error = %v, want ErrBusy", err)
				}
				if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
					t.Errorf("error = %v, want it to wrap %v", err, tt.wantCause)
				}
				if n := computations.Load(); n != 0 {
					t.Errorf("ran %d hashes, want 0", n)
				}
				if !tt.wantWaited && waited.Load() {
					t.Errorf("call waited for a slot, want it to give up first")
				}
			})
		}
	}
}

func TestWaitingCallRunsWhenASlotFrees(t *testing.T) {
	for opName, op := range operations(t) {
		t.Run(opName+" waits for a slot and then succeeds", func(t *testing.T) {
			h := New(tinyParams(), 1, nil)
			h.SetMaxWait(time.Hour)
			waiting := make(chan struct{}, 1)
			h.hooks.waiting = func() { waiting <- struct{}{} }
			freeOne := fillSlots(t, h)

			result := make(chan error, 1)
			go func() { result <- op(t.Context(), h) }()
			receive(t, waiting, "the call to wait for a slot")
			freeOne()
			if err := receive(t, result, "the call to finish"); err != nil {
				t.Fatalf("error = %v, want nil", err)
			}
		})
	}
}

func TestSetMaxWait(t *testing.T) {
	tests := []struct {
		name string
		set  time.Duration
		want time.Duration
	}{
		{"positive wait is kept", 250 * time.Millisecond, 250 * time.Millisecond},
		{"zero restores the default", 0, DefaultMaxWait},
		{"negative restores the default", -time.Second, DefaultMaxWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(tinyParams(), 1, nil)
			h.SetMaxWait(tt.set)
			if got := time.Duration(h.maxWait.Load()); got != tt.want {
				t.Fatalf("max wait = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewDefaultsToOneSlotPerCPU(t *testing.T) {
	h := New(tinyParams(), 0, nil)
	if got, want := h.slots.capacity, runtime.NumCPU(); got != want {
		t.Fatalf("slots = %d, want runtime.NumCPU() = %d", got, want)
	}
}
