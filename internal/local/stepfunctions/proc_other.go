//go:build !linux

package stepfunctions

import (
	"os/exec"
	"syscall"
)

func nodeSysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }
