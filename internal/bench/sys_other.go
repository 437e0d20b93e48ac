//go:build !linux

package bench

import "syscall"

// childAttrs puts a child in its own process group, so a Ctrl-C at the
// terminal reaches only the tool, which then stops its children in order.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
