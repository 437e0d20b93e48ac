package password

import "testing"

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
