//go:build tamago && arm64

package virt

// Arm semihosting (Semihosting for AArch32 and AArch64, version 3.0):
// SYS_EXIT with the reason ADP_Stopped_ApplicationExit and a subcode ends
// the program with that exit status; on AArch64 its argument is a block
// of two 64-bit words. QEMU implements it with -semihosting-config
// enable=on and exits with the subcode.
const (
	semihostSysExit             = 0x18
	semihostApplicationExit     = 0x20026
	semihostApplicationExitCode = 2 // words in SYS_EXIT's parameter block
)

// MaxStatus is the largest status PowerOff can hand over.
const MaxStatus = 126

// exitBlock is SYS_EXIT's parameter block: a package variable, so
// PowerOff allocates nothing and works from any goroutine.
var exitBlock [semihostApplicationExitCode]uint64

// PowerOff stops the machine and hands status to the host: QEMU exits
// with 2·status+3, as every qemu/run guest does (the offset keeps QEMU's
// own failure status 1 apart; qemu/run maps it back). Statuses outside
// 0..MaxStatus are reported as MaxStatus. Without semihosting enabled the
// HLT instruction traps into the runtime's exception handler instead,
// which reports it. PowerOff never returns.
func PowerOff(status int) {
	if status < 0 || status > MaxStatus {
		status = MaxStatus
	}
	// The PL011 takes each byte synchronously (Tx waits for FIFO room
	// and QEMU sends it on at once), so every byte written is already
	// with QEMU.
	exitBlock = [2]uint64{semihostApplicationExit, uint64(2*status + 3)}
	semihostCall(semihostSysExit, &exitBlock[0])
	for {
		CPU.WaitInterrupt()
	}
}

// semihostCall makes semihosting call op with argument arg (HLT #0xf000,
// the AArch64 semihosting trap), in power_arm64.s.
func semihostCall(op uint64, arg *uint64) uint64
