//go:build !linux

package argon2id

func allocBlocks(n uint32) []block { return make([]block, n) }
