package proc

import "syscall"

// ownGroup puts the child in its own process group and asks the kernel to kill it
// when this process dies, so a crashed test leaves no server behind.
func ownGroup(a *syscall.SysProcAttr) {
	a.Setpgid = true
	a.Pdeathsig = syscall.SIGKILL
}
