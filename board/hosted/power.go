//go:build linux && (amd64 || arm64)

package hosted

import "golang.org/x/sys/unix"

// MaxStatus is the largest guest status: a process's exit status is 8
// bits, and QEMU exits with 2·status+3.
const MaxStatus = 126

// powerOffPrepare is what PowerOff does before it reports status on any
// arch: drain the console so that the last lines are not lost, flush the
// file systems, and bring status into 0..MaxStatus.
func powerOffPrepare(console *Console, status int) int {
	if console != nil {
		console.Drain()
	}
	unix.Sync()
	if status < 0 || status > MaxStatus {
		status = MaxStatus
	}
	return status
}
