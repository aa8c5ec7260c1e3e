package shell

import (
	"github.com/tamaswap/tamaswap/drivers/block"

	"strings"
	"testing"
	"time"
)

// hybridDisk is a memory disk that records its hybrid poll window.
type hybridDisk struct {
	*block.Mem
	window time.Duration
}

func (h *hybridDisk) SetHybridPoll(w time.Duration) { h.window = w }

// hybrid sets the current disk's window and says so; a disk whose driver
// has none refuses, as do bad windows.
func TestHybrid(t *testing.T) {
	h := &hybridDisk{Mem: mem(4096, 512)}
	d0, d1 := mkdisk(h), mkdisk(mem(4096, 512))
	got, _ := run(t, []Disk{d0, d1}, strings.Join([]string{
		"hybrid 150", "hybrid", "hybrid -1", "hybrid 1000001", "use 1", "hybrid 10", "use 0", "hybrid 0",
	}, "\n"))
	want(t, got,
		"hybrid: disk=0 window_us=150",
		"hybrid: error: usage: hybrid US",
		`hybrid: error: US "-1": not a decimal number (usage: hybrid US)`,
		"hybrid: error: US 1000001: out of range (max 1000000) (usage: hybrid US)",
		"use: disk=1",
		"hybrid: error: disk 1: its driver has no hybrid poll",
		"use: disk=0",
		"hybrid: disk=0 window_us=0",
	)
	if h.window != 0 {
		t.Errorf("window %v after hybrid 0", h.window)
	}
}
