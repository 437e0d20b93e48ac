package argon2id

import (
	"runtime"
	"syscall"
	"unsafe"
)

// newMemory maps n blocks outside the Go heap. Working memory is kept for
// the life of its owner and holds no pointers; on the heap it would count as
// live data and, at the default GOGC, let the heap grow by as much again in
// garbage before each collection (about 40 MB more RSS at two concurrent
// hashes of 19 MiB). The mapping goes once the Memory is unreachable.
func newMemory(n uint32) *Memory {
	b, err := syscall.Mmap(-1, 0, int(n)*int(unsafe.Sizeof(block{})),
		syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return &Memory{blocks: make([]block, n)}
	}
	m := &Memory{blocks: unsafe.Slice((*block)(unsafe.Pointer(unsafe.SliceData(b))), n)}
	runtime.AddCleanup(m, func(b []byte) { _ = syscall.Munmap(b) }, b)
	return m
}
