package shell

import (
	"math"
	"time"
)

// timeouter is a disk whose driver bounds how long a request waits for
// the device (virtioblk.Device).
type timeouter interface{ SetTimeout(time.Duration) }

// runTimeout sets the current disk's request timeout: past it the
// driver declares the device broken, and every request fails with an
// I/O error until the disk is found again (info re-identifies it).
func runTimeout(s *shell, args []string) (int, bool) {
	ms, ok := s.msArg("timeout", args)
	if !ok {
		return 0, false
	}
	if len(s.disks) == 0 {
		s.printf("timeout: error: no disks")
		return 0, false
	}
	// A partition's requests are its disk's: the timeout is the disk's.
	d := s.disks[s.cur]
	t, ok := d.Dev.(timeouter)
	if !ok {
		s.printf("timeout: error: disk %d: its driver has no request timeout to set", d.n)
		return 0, false
	}
	t.SetTimeout(ms)
	s.printf("timeout: disk=%d ms=%d", d.n, ms.Milliseconds())
	return 0, false
}

// msArg parses the one argument of command name, a number of
// milliseconds, or prints why it cannot.
func (s *shell) msArg(name string, args []string) (time.Duration, bool) {
	if len(args) != 1 {
		s.usage(name, nil)
		return 0, false
	}
	ms, err := parseUint("MS", args[0], math.MaxInt64/int64(time.Millisecond))
	if err != nil {
		s.fail(name, err)
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}
