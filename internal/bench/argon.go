package bench

import (
	"context"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"authgate/internal/password"
)

// HashRate is how fast this machine computes argon2id with the server's
// parameters when every core does nothing else.
type HashRate struct {
	MemoryKiB   uint32  `json:"memory_kib"`
	Iterations  uint32  `json:"iterations"`
	Parallelism uint8   `json:"parallelism"`
	Workers     int     `json:"workers"`
	Hashes      int64   `json:"hashes"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	// MsPerHash is the time one hash takes on one core, waiting for a core
	// included (other work on the machine slows it).
	MsPerHash float64 `json:"ms_per_hash"`
	// CPUMsPerHash is the CPU one hash costs (this process's CPU over the
	// measurement): unlike the rate, it hardly depends on what else runs.
	CPUMsPerHash float64 `json:"cpu_ms_per_hash"`
	// PerSecondBefore and PerSecondAfter are the halves measured just before
	// and just after the login phase: the machine's speed drifts by tens of
	// percent over minutes, so the rate brackets the phase it is compared to.
	PerSecondBefore float64 `json:"per_second_before,omitempty"`
	PerSecondAfter  float64 `json:"per_second_after,omitempty"`
}

// combineHashRates is before and after measured as one run.
func combineHashRates(before, after HashRate) HashRate {
	r := before
	r.Hashes += after.Hashes
	r.Seconds += after.Seconds
	r.PerSecondBefore, r.PerSecondAfter = before.PerSecond, after.PerSecond
	if r.Seconds > 0 {
		r.PerSecond = float64(r.Hashes) / r.Seconds
	}
	if r.Hashes > 0 {
		r.MsPerHash = 1000 * r.Seconds * float64(r.Workers) / float64(r.Hashes)
		r.CPUMsPerHash = (before.CPUMsPerHash*float64(before.Hashes) + after.CPUMsPerHash*float64(after.Hashes)) / float64(r.Hashes)
	}
	return r
}

// measureHashRate hashes with p on GOMAXPROCS goroutines for d, through the
// server's own password package.
func measureHashRate(ctx context.Context, p password.Params, d time.Duration) HashRate {
	workers := runtime.GOMAXPROCS(0)
	h := password.New(p, workers, nil)
	var n atomic.Int64
	cpu0, _ := procCPUTicks(os.Getpid())
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if _, err := h.Hash(ctx, "bench-password"); err == nil {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	cpu1, _ := procCPUTicks(os.Getpid())
	r := HashRate{MemoryKiB: p.MemoryKiB, Iterations: p.Iterations, Parallelism: p.Parallelism,
		Workers: workers, Hashes: n.Load(), Seconds: secs, PerSecond: float64(n.Load()) / secs}
	if r.Hashes > 0 {
		r.MsPerHash = 1000 * secs * float64(workers) / float64(r.Hashes)
		r.CPUMsPerHash = 1000 * float64(cpu1-cpu0) / clockTicks / float64(r.Hashes)
	}
	return r
}
