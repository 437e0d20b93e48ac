package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestDriveCountsEveryRequestAndStopsAtTheDeadline(t *testing.T) {
	workers := make([]*worker, 4)
	for i := range workers {
		workers[i] = &worker{}
	}
	var calls atomic.Int64
	op := operation{name: "fake", run: func(ctx context.Context, w *worker) string {
		n := calls.Add(1)
		time.Sleep(time.Millisecond)
		w.next++ // each worker's state is its own goroutine's
		if n%10 == 0 {
			return "FAKE_ERROR"
		}
		return ""
	}}
	start := time.Now()
	out := drive(context.Background(), workers, op, 100*time.Millisecond, time.Second)
	if took := time.Since(start); took > time.Second {
		t.Errorf("drive took %s for a 100ms phase", took)
	}
	if int64(out.requests) != calls.Load() || out.ok+out.errorCount() != out.requests {
		t.Errorf("requests %d, ok %d, errors %d, calls %d", out.requests, out.ok, out.errorCount(), calls.Load())
	}
	if out.errors["FAKE_ERROR"] == 0 || len(out.latencies) != out.ok {
		t.Errorf("errors %v, %d latencies for %d ok", out.errors, len(out.latencies), out.ok)
	}
	if out.elapsed < 100*time.Millisecond || out.elapsed > 500*time.Millisecond {
		t.Errorf("elapsed %s", out.elapsed)
	}
}

func TestDriveStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	op := operation{name: "slow", run: func(ctx context.Context, w *worker) string {
		<-ctx.Done()
		return "CANCELED"
	}}
	start := time.Now()
	drive(ctx, []*worker{{}, {}}, op, time.Hour, time.Hour)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("drive ignored its context for %s", took)
	}
}
