//go:build tamago && arm && semihosting

package imx6

import (
	"runtime/goos"
	"unsafe"
)

// Semihosting = true in images built with the tag semihosting.
const Semihosting = true

// Semihosting operation and exception code ("Semihosting for AArch32 and
// AArch64" 2.0, 5.4.4 SYS_EXIT_EXTENDED and Table 5-6).
const (
	sysExitExtended   = 0x20
	adpStoppedAppExit = 0x20026
)

// exitBlock is SYS_EXIT_EXTENDED's parameter block: the reason and the
// status. A package variable, so that exiting allocates nothing.
var exitBlock [2]uint32

func init() {
	// Package arm's Init (from the upstream board's Hwinit1) set
	// goos.Exit to a halt; every exit, os.Exit and a fatal panic's
	// alike, goes to the debugger instead.
	goos.Exit = semihostingExit
}

// semihostingExit asks the debugger (QEMU's -semihosting) to end the
// program with status code. QEMU exits with the code it is handed; as on
// every arch of qemu/run, that is 2·code+3 (qemu/internal/harness maps it
// back), which keeps QEMU's own failure status 1 and a status-less stop
// (0) apart from every guest status. Without a debugger the SVC takes an
// exception: this is why only images built for QEMU have it.
func semihostingExit(code int32) {
	if code < 0 || code > MaxStatus {
		code = MaxStatus
	}
	exitBlock = [2]uint32{adpStoppedAppExit, uint32(2*code + 3)}
	semihost(sysExitExtended, uintptr(unsafe.Pointer(&exitBlock)))
	for {
		// QEMU does not return from SYS_EXIT_EXTENDED.
	}
}

// defined in asm_arm.s
func semihost(op uint32, arg uintptr) uint32
