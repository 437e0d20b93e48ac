package bench

import (
	"math"
	"testing"
)

func TestCombineHashRatesWeighsByHashes(t *testing.T) {
	before := HashRate{Workers: 2, Hashes: 300, Seconds: 5, PerSecond: 60, CPUMsPerHash: 30}
	after := HashRate{Workers: 2, Hashes: 400, Seconds: 5, PerSecond: 80, CPUMsPerHash: 20}
	got := combineHashRates(before, after)
	want := HashRate{Workers: 2, Hashes: 700, Seconds: 10, PerSecond: 70, MsPerHash: 1000 * 10 * 2 / 700.0,
		CPUMsPerHash: (300*30 + 400*20) / 700.0, PerSecondBefore: 60, PerSecondAfter: 80}
	if math.Abs(got.MsPerHash-want.MsPerHash) > 1e-9 || math.Abs(got.CPUMsPerHash-want.CPUMsPerHash) > 1e-9 {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	got.MsPerHash, got.CPUMsPerHash = want.MsPerHash, want.CPUMsPerHash
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
