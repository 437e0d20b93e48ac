package bench

import "syscall"

// childAttrs puts a child in its own process group, so a Ctrl-C at the
// terminal reaches only the tool, which then stops its children in order;
// and kills the child if the tool dies first.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
