package usdhctest

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/tamaswap/tamaswap/drivers/usdhc"
	"github.com/tamaswap/tamaswap/virtio"
)

// DMA is the memory the model's controller reaches: a virtio.Region whose
// device addresses start at DMABase, and a record of what the driver has
// shared with the device. The controller model checks every byte it
// moves, and every descriptor it reads, against that record, as a
// non-coherent SoC would punish a missing cache clean or invalidate.
type DMA struct {
	*virtio.Region

	mu         sync.Mutex
	shared     map[uint64]shared // by device address
	shares     int
	violations []string
}

type shared struct {
	n   int
	dir usdhc.Direction
}

// DMABase is the device address of the model's DMA memory.
const DMABase = 0x8000_0000

// newDMA returns size bytes of model memory, page aligned so that host
// and device addresses agree modulo 4096 as virtio.NewRegion requires.
// It cannot fail for a size that fits an int; if it did, the memory is
// empty and the failure is the model's first violation.
func newDMA(size int) *DMA {
	d := &DMA{shared: make(map[uint64]shared)}
	raw := make([]byte, size+virtio.RegionPageSize)
	skip := int(-uintptr(unsafe.Pointer(&raw[0])) & (virtio.RegionPageSize - 1))
	r, err := virtio.NewRegion(raw[skip:skip+size:skip+size], DMABase)
	if err != nil {
		d.violations = append(d.violations, err.Error())
		r, _ = virtio.NewRegion(nil, DMABase)
	}
	d.Region = r
	return d
}

// Share records buf as lent to the device for dir.
func (d *DMA) Share(buf []byte, dir usdhc.Direction) {
	a, ok := d.Addr(buf)
	d.mu.Lock()
	defer d.mu.Unlock()
	if !ok {
		d.violations = append(d.violations, fmt.Sprintf("Share of %d bytes the device cannot reach", len(buf)))
		return
	}
	if s, dup := d.shared[a]; dup {
		d.violations = append(d.violations, fmt.Sprintf("Share of %#x+%d, already shared (%d bytes)", a, len(buf), s.n))
	}
	d.shared[a] = shared{len(buf), dir}
	d.shares++
}

// Unshare records buf as given back; it must match a Share.
func (d *DMA) Unshare(buf []byte, dir usdhc.Direction) {
	a, ok := d.Addr(buf)
	d.mu.Lock()
	defer d.mu.Unlock()
	s, found := d.shared[a]
	if !ok || !found || s.n != len(buf) || s.dir != dir {
		d.violations = append(d.violations, fmt.Sprintf("Unshare of %#x+%d dir %d matches no Share", a, len(buf), dir))
		return
	}
	delete(d.shared, a)
}

// covered reports whether [a, a+n) lies in one range shared for dir.
func (d *DMA) covered(a uint64, n int, dir usdhc.Direction) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for start, s := range d.shared {
		if s.dir == dir && a >= start && a+uint64(n) <= start+uint64(s.n) {
			return true
		}
	}
	return false
}

func (d *DMA) violate(format string, args ...any) {
	d.mu.Lock()
	d.violations = append(d.violations, fmt.Sprintf(format, args...))
	d.mu.Unlock()
}

// Outstanding reports how many shared ranges have not been given back.
func (d *DMA) Outstanding() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.shared)
}

// Shares reports how many Share calls there have been.
func (d *DMA) Shares() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.shares
}
