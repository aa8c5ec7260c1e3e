package tamago

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/tamaswap/tamaswap/virtio"
)

// DMA is virtio.DMA over a TamaGo dma.Region (NewDMA): memory set apart
// from what the Go runtime reuses, such as the global region upstream's
// boards set up (dma.Default()). TamaGo identity-maps memory, so a
// buffer's address is the address the device sees. Buffers from Alloc are
// the region's reserved blocks (dma.Region.Reserve); buffers from anywhere
// else are bounced through them by the driver.
type DMA struct {
	r region
}

// region is what DMA uses of a *dma.Region.
type region interface {
	Reserve(size, align int) (addr uint, buf []byte)
	Release(addr uint)
	Start() uint
	End() uint
}

// ErrNoRegion is Alloc's error when the DMA has no region: dma.Default()
// of a board that sets none up.
var ErrNoRegion = errors.New("tamago: no DMA region")

// Alloc reserves size zeroed bytes aligned to align.
func (d *DMA) Alloc(size, align int) (buf []byte, addr uint64, err error) {
	if size <= 0 || align <= 0 || align&(align-1) != 0 {
		return nil, 0, fmt.Errorf("tamago: bad DMA allocation: size %d align %d", size, align)
	}
	if d == nil || d.r == nil {
		return nil, 0, ErrNoRegion
	}
	a, buf, err := d.reserve(size, align)
	if err != nil {
		return nil, 0, err
	}
	clear(buf)
	return buf, uint64(a), nil
}

// reserve turns the region's out-of-memory panic into ErrNoDMAMemory. The
// region releases its lock as the panic unwinds, so it stays usable.
func (d *DMA) reserve(size, align int) (addr uint, buf []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			addr, buf = 0, nil
			err = fmt.Errorf("%w: %d bytes aligned to %d in the region at %#x (%v)", virtio.ErrNoDMAMemory, size, align, d.r.Start(), p)
		}
	}()
	addr, buf = d.r.Reserve(size, align)
	if len(buf) != size || addr&uint(align-1) != 0 {
		if len(buf) != 0 {
			d.r.Release(addr)
		}
		return 0, nil, fmt.Errorf("%w: region returned %d bytes at %#x for %d aligned to %d", virtio.ErrNoDMAMemory, len(buf), addr, size, align)
	}
	return addr, buf, nil
}

// Free releases a buffer from Alloc; anything else is ignored.
func (d *DMA) Free(buf []byte) {
	if addr, ok := d.Addr(buf); ok {
		d.r.Release(uint(addr))
	}
}

// Addr returns the address of buf when all of it lies in the region. It
// allocates nothing: it is on every request's path.
func (d *DMA) Addr(buf []byte) (uint64, bool) {
	if len(buf) == 0 || d == nil || d.r == nil {
		return 0, false
	}
	p := uint(uintptr(unsafe.Pointer(&buf[0])))
	start, end := d.r.Start(), d.r.End()
	if p < start || p >= end || end-p < uint(len(buf)) {
		return 0, false
	}
	return uint64(p), true
}
