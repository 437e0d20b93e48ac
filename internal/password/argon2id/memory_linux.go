package argon2id

import (
	"syscall"
	"unsafe"
)

// allocBlocks maps n blocks outside the Go heap. Working memory is kept for
// the life of the process and holds no pointers; on the heap it would count
// as live data and, at the default GOGC, let the heap grow by as much again
// in garbage before each collection (about 40 MB more RSS at two concurrent
// hashes of 19 MiB).
func allocBlocks(n uint32) []block {
	b, err := syscall.Mmap(-1, 0, int(n)*int(unsafe.Sizeof(block{})),
		syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]block, n)
	}
	return unsafe.Slice((*block)(unsafe.Pointer(unsafe.SliceData(b))), n)
}
