//go:build linux

package hosted

import "golang.org/x/sys/unix"

// The exit status on arm64: Arm semihosting's SYS_EXIT, made from user
// space, which QEMU 7.2 allows with -semihosting-config
// enable=on,userspace=on (qemu/run passes it on every arm64 boot). The
// reason ADP_Stopped_ApplicationExit with a subcode makes QEMU exit with
// that subcode; the board passes 2·status+3, as every qemu/run guest
// reports its status (qemu/internal/harness). virt has no isa-debug-exit,
// and PSCI SYSTEM_OFF (the reboot call below) exits QEMU with 0, which
// qemu/run reads as a guest that reported nothing.
const (
	semihostSysExit         = 0x18
	semihostApplicationExit = 0x20026
)

// exitBlock is SYS_EXIT's parameter block (two 64-bit words on AArch64).
var exitBlock [2]uint64

// PowerOff stops the machine, handing status to the host. It drains the
// console first so that the last lines are not lost. Without semihosting
// enabled for user space, QEMU treats the HLT instruction as undefined,
// the kernel kills init with SIGILL and panics, and QEMU run with
// -no-reboot exits without a status.
func PowerOff(console *Console, status int) error {
	status = powerOffPrepare(console, status)
	exitBlock = [2]uint64{semihostApplicationExit, uint64(2*status + 3)}
	semihostCall(semihostSysExit, &exitBlock[0])
	return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// semihostCall makes semihosting call op with argument arg (HLT #0xf000),
// in semihost_arm64.s.
func semihostCall(op uint64, arg *uint64) uint64
