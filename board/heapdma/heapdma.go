// Package heapdma is DMA memory over identity-mapped RAM for TamaGo
// boards (board/microvm on amd64, board/virt on arm64): under GOOS=tamago
// on both a Go pointer is a physical address, so the Go heap is DMA memory
// and buffers reach devices without a copy. It is plain Go, tested on the
// host.
package heapdma

import (
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// HeapDMA is virtio.DMA over identity-mapped RAM: the Go heap of a TamaGo
// image. A buffer's address is its physical address, so Addr
// accepts any buffer that lies in the RAM range and drivers never copy.
// Alloc hands out aligned heap memory and keeps a reference to it until
// Free, so the (non-moving) garbage collector cannot reuse memory a device
// may still write.
//
// Buffers must not live on a goroutine stack, which moves when it grows or
// shrinks: a []byte handed to a driver through an interface method (as
// block.Device's Read and Write are) always escapes to the heap.
type HeapDMA struct {
	lo, hi uint64

	mu   sync.Mutex
	live map[uintptr][]byte // first byte handed out -> whole allocation
}

// New returns DMA memory over the identity-mapped RAM [lo, hi),
// typically runtime.MemRegion().
func New(lo, hi uint64) *HeapDMA {
	return &HeapDMA{lo: lo, hi: hi, live: make(map[uintptr][]byte)}
}

// Alloc returns size zeroed bytes aligned to align, and their address.
func (d *HeapDMA) Alloc(size, align int) ([]byte, uint64, error) {
	if size <= 0 || align <= 0 || align&(align-1) != 0 || align > 1<<30 || int64(size) > 1<<40 || size > math.MaxInt-align {
		return nil, 0, fmt.Errorf("heapdma: bad DMA allocation: size %d align %d", size, align)
	}
	mem := make([]byte, size+align-1)
	p := uintptr(unsafe.Pointer(&mem[0]))
	off := int((uintptr(align) - p%uintptr(align)) % uintptr(align))
	buf := mem[off : off+size : off+size]
	addr := uint64(p) + uint64(off)
	if addr < d.lo || addr+uint64(size) > d.hi {
		return nil, 0, fmt.Errorf("heapdma: heap memory at %#x outside DMA range [%#x, %#x)", addr, d.lo, d.hi)
	}
	d.mu.Lock()
	d.live[uintptr(addr)] = mem
	d.mu.Unlock()
	return buf, addr, nil
}

// Free drops the reference Alloc kept; the garbage collector reclaims the
// memory once nothing else refers to it. Freeing anything else is ignored.
func (d *HeapDMA) Free(buf []byte) {
	if len(buf) == 0 {
		return
	}
	d.mu.Lock()
	delete(d.live, uintptr(unsafe.Pointer(&buf[0])))
	d.mu.Unlock()
}

// Addr returns buf's physical address when buf lies in the RAM range.
// It allocates nothing: it is on every request's path.
func (d *HeapDMA) Addr(buf []byte) (uint64, bool) {
	if len(buf) == 0 {
		return 0, false
	}
	addr := uint64(uintptr(unsafe.Pointer(&buf[0])))
	if addr < d.lo || addr >= d.hi || d.hi-addr < uint64(len(buf)) {
		return 0, false
	}
	return addr, true
}

// Live is the number of Alloc buffers not yet freed.
func (d *HeapDMA) Live() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.live)
}
