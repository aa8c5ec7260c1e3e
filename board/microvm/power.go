//go:build tamago && amd64

package microvm

import (
	"github.com/usbarmory/tamago/amd64"

	"github.com/tamaswap/tamaswap/board/x86"
)

// MaxStatus is the largest status PowerOff can hand over (see PowerOff).
const MaxStatus = 126

// PowerOff stops the machine and hands status to the host through QEMU's
// isa-debug-exit device, as every runtime of qemu/run does: it writes
// status+1, and QEMU exits at once with ((status+1)<<1)|1 = 2·status+3,
// which qemu/run maps back; the offset keeps QEMU's own failure status 1
// apart. A process exit status has 8 bits, so statuses outside
// 0..MaxStatus are reported as MaxStatus. Without the device the machine
// triple-faults, which QEMU run with -no-reboot turns into an exit with
// status 0: qemu/run reports a guest that stopped without a status.
// PowerOff never returns.
func PowerOff(status int) {
	if status < 0 || status > MaxStatus {
		status = MaxStatus
	}
	// The UART transmits synchronously (Tx waits for THRE), so every
	// byte written is already with QEMU.
	x86.Out32(DebugExitPort, uint32(status+1))
	amd64.Fault()
}
