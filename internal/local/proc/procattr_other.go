//go:build !linux

package proc

import "syscall"

// ownGroup puts the child in its own process group; only Linux has Pdeathsig.
func ownGroup(a *syscall.SysProcAttr) {
	a.Setpgid = true
}
