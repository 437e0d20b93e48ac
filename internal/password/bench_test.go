package password

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

func BenchmarkHashDefault(b *testing.B) {
	h := New(DefaultParams(), 1, nil)
	for b.Loop() {
		if _, err := h.Hash(b.Context(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	h := New(DefaultParams(), 1, nil)
	encoded, err := h.Hash(b.Context(), "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := h.Verify(b.Context(), encoded, "correct horse battery staple"); err != nil || !ok {
			b.Fatalf("Verify = (%v, _, %v)", ok, err)
		}
	}
}

// BenchmarkSlotsTakeRelease measures what fair sharing adds to a hash: one
// slot taken and given back, from many goroutines of 16 clients at once, on
// as many slots as CPUs (a default argon2id hash costs about 20 ms).
func BenchmarkSlotsTakeRelease(b *testing.B) {
	s := newSlots(runtime.NumCPU())
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		client := fmt.Sprintf("192.0.2.%d", n.Add(1)%16)
		for pb.Next() {
			if w := s.take(client); w != nil {
				<-w.granted
			}
			s.release(client)
		}
	})
}
