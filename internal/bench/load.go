package bench

import (
	"context"
	"sync"
	"time"
)

// phaseOutcome is what the clients saw while one operation ran.
type phaseOutcome struct {
	requests int
	ok       int
	errors   map[string]int
	// latencies are those of successful requests.
	latencies []time.Duration
	elapsed   time.Duration
}

// drive runs op from every worker concurrently, each sending its next
// request as soon as the previous one answered, until d has passed (no
// request starts after that) or ctx ends. Every request is bounded by
// timeout.
func drive(ctx context.Context, workers []*worker, op operation, d, timeout time.Duration) phaseOutcome {
	type local struct {
		requests  int
		errors    map[string]int
		latencies []time.Duration
		last      time.Time
	}
	results := make([]local, len(workers))
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			r := local{errors: map[string]int{}, latencies: make([]time.Duration, 0, 4096)}
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				reqCtx, cancel := context.WithTimeout(ctx, timeout)
				code := op.run(reqCtx, w)
				cancel()
				r.last = time.Now()
				r.requests++
				if code == "" {
					r.latencies = append(r.latencies, r.last.Sub(t0))
				} else {
					r.errors[code]++
				}
			}
			results[i] = r
		})
	}
	wg.Wait()
	out := phaseOutcome{errors: map[string]int{}}
	var last time.Time
	for _, r := range results {
		out.requests += r.requests
		out.latencies = append(out.latencies, r.latencies...)
		for code, n := range r.errors {
			out.errors[code] += n
		}
		if r.last.After(last) {
			last = r.last
		}
	}
	out.ok = len(out.latencies)
	// The phase lasts until its last answer, so the rate counts the
	// requests that straddle the deadline at their full cost.
	out.elapsed = last.Sub(start)
	if out.elapsed <= 0 {
		out.elapsed = time.Since(start)
	}
	return out
}

// errorCount is the number of failed requests.
func (p phaseOutcome) errorCount() int {
	n := 0
	for _, v := range p.errors {
		n += v
	}
	return n
}
