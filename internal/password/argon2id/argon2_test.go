package argon2id

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"golang.org/x/crypto/argon2"
)

// RFC 9106 5.3's Argon2id vector uses a secret and associated data, which
// IDKey does not take; this is x/crypto's own Argon2id vector instead.
func TestKnownVector(t *testing.T) {
	got := IDKey(nil, []byte("password"), []byte("somesalt"), 2, 65536, 1, 32)
	const want = "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7"
	if hex.EncodeToString(got) != want {
		t.Fatalf("IDKey = %x, want %s", got, want)
	}
}

// The same Memory, reused across hashes of different inputs and sizes and
// left dirty by each, gives exactly x/crypto's output every time.
func TestReusedMemoryMatchesUpstream(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := NewMemory(1024, 1) // bigger than every case: all of them reuse it
	for i := range 60 {
		password := make([]byte, r.IntN(80))
		salt := make([]byte, 8+r.IntN(24))
		for _, b := range [][]byte{password, salt} {
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		}
		time := uint32(1 + r.IntN(3))
		memory := uint32(8 + r.IntN(600))
		threads := uint8(1 + r.IntN(4))
		keyLen := uint32(4 + r.IntN(100))
		want := argon2.IDKey(password, salt, time, memory, threads, keyLen)
		got := IDKey(m, password, salt, time, memory, threads, keyLen)
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d (t=%d m=%d p=%d len=%d): got %x, want %x", i, time, memory, threads, keyLen, got, want)
		}
	}
}

// A Memory sized for the parameters is used as is: no allocation beyond the
// key and small buffers.
func TestSizedMemoryIsNotReallocated(t *testing.T) {
	m := NewMemory(1024, 1)
	IDKey(m, []byte("pw"), []byte("saltsalt"), 1, 1024, 1, 32)
	allocated := testing.AllocsPerRun(5, func() {
		IDKey(m, []byte("pw"), []byte("saltsalt"), 1, 1024, 1, 32)
	})
	perHash := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			IDKey(m, []byte("pw"), []byte("saltsalt"), 1, 1024, 1, 32)
		}
	}).AllocedBytesPerOp()
	if perHash > 16<<10 {
		t.Fatalf("a hash in sized memory allocates %d bytes (%v allocations); want the working memory reused", perHash, allocated)
	}
}

// BenchmarkIDKey compares a hash in reused memory with x/crypto's, which
// allocates its memory per hash, at the default parameters (see
// docs/security.md for why the fork is kept): run with -count and compare
// ns/op and B/op; the difference lives in the memory system (page faults,
// zeroing, the collector), so measure it under a server's load too.
func BenchmarkIDKey(b *testing.B) {
	pw, salt := []byte("correct horse battery staple"), []byte("0123456789abcdef")
	b.Run("reused", func(b *testing.B) {
		b.ReportAllocs()
		m := NewMemory(19456, 1)
		for b.Loop() {
			IDKey(m, pw, salt, 2, 19456, 1, 32)
		}
	})
	b.Run("upstream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			argon2.IDKey(pw, salt, 2, 19456, 1, 32)
		}
	})
}
