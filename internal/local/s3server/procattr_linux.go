package s3server

import "syscall"

// procAttr puts the child in its own process group (Stop kills the group) and asks the
// kernel to kill it when the parent dies, so a crashed test leaves no gateway behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
