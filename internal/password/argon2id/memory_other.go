//go:build !linux

package argon2id

func newMemory(n uint32) *Memory { return &Memory{blocks: make([]block, n)} }
