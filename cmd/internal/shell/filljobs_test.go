package shell

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// concurrent records the most writes in flight at once and where each
// write started, on a device that holds each write until want are in
// flight (or a second passed), so that a slow emulated host still sees
// every job at once.
type concurrent struct {
	block.Device
	want     int64
	now, max atomic.Int64
	mu       sync.Mutex
	starts   []int64
}

func (c *concurrent) Write(sector int64, bufs ...[]byte) error {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for m := c.max.Load(); n > m && !c.max.CompareAndSwap(m, n); m = c.max.Load() {
	}
	c.mu.Lock()
	c.starts = append(c.starts, sector)
	c.mu.Unlock()
	for t0 := time.Now(); c.max.Load() < c.want && time.Since(t0) < time.Second; {
		time.Sleep(100 * time.Microsecond)
	}
	return c.Device.Write(sector, bufs...)
}

// TestFillJobs: fill --jobs N writes exactly the range, from N
// goroutines at once, each from the start of its contiguous share.
func TestFillJobs(t *testing.T) {
	m := mem(16384, 512) // 8 MiB: each share spans several 1 MiB chunks
	c := &concurrent{Device: m, want: 3}
	got, _ := run(t, []Disk{mkdisk(c)}, strings.Join([]string{
		"fill 5 10001 171 --jobs 3",
		"fill 0 1 1 --jobs 0",
		"fill 0 1 1 --jobs 17",
		"fill --jobs 2 0 1",
		"fill 16000 2 9 --jobs=16",
	}, "\n"))
	want(t, got,
		"fill: ok",
		"~fill: error: --jobs 0: .* \\(usage: fill LBA COUNT BYTE \\[--jobs N\\]\\)",
		"~fill: error: .*--jobs.* \\(usage: fill LBA COUNT BYTE \\[--jobs N\\]\\)",
		"fill: error: usage: fill LBA COUNT BYTE [--jobs N]",
		"fill: ok",
	)
	b := m.Bytes()
	if !bytes.Equal(b[5*512:10006*512], bytes.Repeat([]byte{171}, 10001*512)) || b[5*512-1] != 0 || b[10006*512] != 0 {
		t.Error("fill 5 10001 171 --jobs 3 wrote the wrong sectors")
	}
	if !bytes.Equal(b[16000*512:16002*512], bytes.Repeat([]byte{9}, 2*512)) || b[16002*512] != 0 {
		t.Error("fill 16000 2 9 --jobs=16 wrote the wrong sectors")
	}
	if c.max.Load() != 3 {
		t.Errorf("%d writes in flight at most, want 3 (one a job)", c.max.Load())
	}
	// Shares of 3334, 3334 and 3333 sectors from sector 5.
	for _, s := range []int64{5, 5 + 3334, 5 + 2*3334} {
		found := false
		for _, x := range c.starts {
			found = found || x == s
		}
		if !found {
			t.Errorf("no write started at sector %d, the start of a share: %v", s, c.starts)
		}
	}
}
