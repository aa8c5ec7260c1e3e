package shell

import (
	"fmt"
	"time"
)

// HybridPoller is a disk whose requests, waiting by interrupt, can poll
// for their completion before they sleep (virtioblk.Device.SetHybridPoll).
type HybridPoller interface {
	SetHybridPoll(window time.Duration)
}

// maxHybridUs bounds hybrid's window: a poll longer than a second is a
// typing error, not a setting.
const maxHybridUs = 1_000_000

// runHybrid sets the current disk's hybrid poll window, so that boards'
// defaults can be measured against other windows in one boot.
func runHybrid(s *shell, args []string) (int, bool) {
	if len(args) != 1 {
		s.usage("hybrid", nil)
		return 0, false
	}
	us, err := parseUint("US", args[0], maxHybridUs)
	if err != nil {
		s.usage("hybrid", err)
		return 0, false
	}
	if len(s.disks) == 0 {
		s.printf("hybrid: error: no disks")
		return 0, false
	}
	// A partition's requests are its disk's: the window is the disk's.
	d := s.disks[s.cur]
	h, ok := d.Dev.(HybridPoller)
	if !ok {
		s.fail("hybrid", fmt.Errorf("disk %d: its driver has no hybrid poll", d.n))
		return 0, false
	}
	h.SetHybridPoll(time.Duration(us) * time.Microsecond)
	s.printf("hybrid: disk=%d window_us=%d", d.n, us)
	return 0, false
}
