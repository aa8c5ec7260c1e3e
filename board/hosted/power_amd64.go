//go:build linux

package hosted

import (
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/tamaswap/tamaswap/board/x86"
)

// The exit-status device: QEMU's isa-debug-exit, which qemu/run adds to
// every hosted boot as
//
//	-device isa-debug-exit,iobase=0xf4,iosize=0x04
//
// A write of V to its port makes QEMU exit at once with status (V<<1)|1.
// The board writes status+1, so QEMU exits with 2*status+3 and its own
// failure status 1 stays distinct; qemu/run maps it back (see
// qemu/internal/harness). QEMU exiting with 0 (a plain power-off, or a
// panic with -no-reboot) means the guest reported nothing, which qemu/run
// treats as a crash. A process's exit status is 8 bits, so guest statuses
// are 0..126; PowerOff reports anything outside that range as 126.
const (
	DebugExitPort = 0xf4
)

// PowerOff stops the machine, handing status to the host. It drains the
// console first so that the last lines are not lost, and returns only if
// both the exit device and the reboot system call fail.
func PowerOff(console *Console, status int) error {
	status = powerOffPrepare(console, status)
	// ioperm grants port access to the calling thread only.
	runtime.LockOSThread()
	if err := unix.Ioperm(DebugExitPort, 1, 1); err == nil {
		x86.NewPorts(DebugExitPort, 1).Write8(0, uint8(status+1))
	}
	runtime.UnlockOSThread()
	// No exit device: power off without a status.
	return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}
