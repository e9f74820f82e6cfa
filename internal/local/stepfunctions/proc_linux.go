package stepfunctions

import (
	"os/exec"
	"syscall"
)

// nodeSysProcAttr puts node in its own process group, so that killing the group leaves nothing
// behind, and has the kernel kill it should this process die without cleaning up.
func nodeSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(cmd *exec.Cmd) error {
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
