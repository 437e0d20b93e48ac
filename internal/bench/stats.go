package bench

import (
	"slices"
	"time"
)

// Latency summarises recorded request durations, in milliseconds.
type Latency struct {
	Count  int     `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// summarize returns exact percentiles of samples (nearest rank). It sorts
// samples in place. An empty slice gives zeros.
func summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	return Latency{
		Count:  len(samples),
		MeanMs: ms(sum / time.Duration(len(samples))),
		P50Ms:  ms(percentile(samples, 50)),
		P95Ms:  ms(percentile(samples, 95)),
		P99Ms:  ms(percentile(samples, 99)),
		MaxMs:  ms(samples[len(samples)-1]),
	}
}

// percentile returns the nearest-rank p-th percentile of sorted: the
// smallest sample that at least p% of the samples do not exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(p / 100 * float64(n))
	if float64(rank) < p/100*float64(n) {
		rank++ // ceil
	}
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ratio is a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
