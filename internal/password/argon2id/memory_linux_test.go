package argon2id

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// vmSizeKiB is the process's mapped memory.
func vmSizeKiB(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmSize:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmSize in /proc/self/status")
	return 0
}

// Memory dropped by its owner is unmapped: a process that makes hashers
// again and again (the load tool measures twice) does not keep every one.
func TestUnreachableMemoryIsUnmapped(t *testing.T) {
	const count, kib = 40, 19456 // 760 MiB in all
	before := vmSizeKiB(t)
	for range count {
		m := NewMemory(kib, 1)
		IDKey(m, []byte("pw"), []byte("saltsalt"), 1, 64, 1, 16)
	}
	mapped := vmSizeKiB(t) - before
	// Cleanups run on their own goroutine after a collection.
	for range 1000 {
		runtime.GC()
		runtime.Gosched()
		if vmSizeKiB(t)-before < count*kib/4 {
			return
		}
	}
	t.Fatalf("%d MiB still mapped after dropping %d memories of %d MiB (%d MiB right after)",
		(vmSizeKiB(t)-before)>>10, count, kib>>10, mapped>>10)
}
