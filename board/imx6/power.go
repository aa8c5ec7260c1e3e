//go:build tamago && arm

package imx6

import "os"

// MaxStatus is the largest status PowerOff hands over; larger or negative
// ones are reported as MaxStatus, as on the other boards.
const MaxStatus = 126

// PowerOff ends the program with status. In images built with the tag
// semihosting the status reaches the debugger (QEMU run with -semihosting
// exits with it); otherwise the CPU halts, as TamaGo's arm exit does, and
// the console's last line says which status it would have been.
func PowerOff(status int) {
	if status < 0 || status > MaxStatus {
		status = MaxStatus
	}
	os.Exit(status)
}
