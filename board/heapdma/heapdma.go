// Package heapdma is DMA memory over identity-mapped RAM for TamaGo
// boards (board/microvm on amd64, board/virt on arm64, board/imx6 on the
// i.MX6): under GOOS=tamago a Go pointer is a physical address, so any
// buffer on the Go heap reaches the device without a copy, and the
// memory the drivers allocate for themselves is a pool carved out of the
// heap once, at boot. It is plain Go, tested on the host.
//
// Why a pool and not fresh heap allocations: a driver's DMA buffers are
// large (1 MiB swap blocks, a 2 MiB bounce budget), aligned (allocated
// with up to align-1 bytes of slack) and long-lived next to short-lived
// garbage. Made and dropped per workload they fragmented the fixed heap
// of a TamaGo image until the runtime could not find a 4 MiB arena and
// died (see the README, "Memory"). One pool allocated before anything
// else leaves the Go heap alone; inside it, virtio.Region's first-fit
// allocator hands out and merges spans without allocating, and running
// out is an error (virtio.ErrNoDMAMemory) the caller sees, never a fatal
// runtime error.
package heapdma

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/tamaswap/tamaswap/virtio"
)

// HeapDMA is virtio.DMA over identity-mapped RAM: the Go heap of a
// TamaGo image. Addr accepts any buffer that lies in the RAM range, so
// callers' own buffers go to the device without a copy; Alloc hands out
// memory from the pool, which the Go runtime never reuses.
//
// Buffers must not live on a goroutine stack, which moves when it grows
// or shrinks: a []byte handed to a driver through an interface method (as
// block.Device's Read and Write are) always escapes to the heap.
type HeapDMA struct {
	lo, hi uint64
	pool   *virtio.Region
}

// PoolAlign is the alignment of the pool's first byte: a page, as
// virtio.Region wants of its memory.
const PoolAlign = virtio.RegionPageSize

// New returns DMA memory over the identity-mapped RAM [lo, hi),
// typically runtime.MemRegion(), with a pool of poolSize bytes allocated
// now from the Go heap (rounded up to a page). It fails when the pool
// does not lie in [lo, hi).
func New(lo, hi uint64, poolSize int) (*HeapDMA, error) {
	if poolSize < 0 || poolSize > math.MaxInt-2*PoolAlign {
		return nil, fmt.Errorf("heapdma: bad pool size %d", poolSize)
	}
	poolSize = (poolSize + PoolAlign - 1) &^ (PoolAlign - 1)
	d := &HeapDMA{lo: lo, hi: hi}
	var mem []byte
	var addr uint64
	if poolSize > 0 {
		raw := make([]byte, poolSize+PoolAlign-1)
		skip := int(-uintptr(unsafe.Pointer(&raw[0])) & (PoolAlign - 1))
		mem = raw[skip : skip+poolSize : skip+poolSize]
		var ok bool
		if addr, ok = d.Addr(mem); !ok {
			return nil, fmt.Errorf("heapdma: pool at %#x outside RAM [%#x, %#x)", uintptr(unsafe.Pointer(&mem[0])), lo, hi)
		}
	}
	pool, err := virtio.NewRegion(mem, addr)
	if err != nil {
		return nil, err
	}
	d.pool = pool
	return d, nil
}

// Alloc returns size zeroed bytes of the pool aligned to align, and
// their address. It fails with virtio.ErrNoDMAMemory when the pool has no
// room.
func (d *HeapDMA) Alloc(size, align int) ([]byte, uint64, error) {
	if align > 1<<30 {
		return nil, 0, fmt.Errorf("heapdma: bad DMA allocation: size %d align %d", size, align)
	}
	return d.pool.Alloc(size, align)
}

// Free gives a buffer from Alloc back to the pool. Freeing anything else
// is ignored.
func (d *HeapDMA) Free(buf []byte) { d.pool.Free(buf) }

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

// Stats returns the pool's figures.
func (d *HeapDMA) Stats() virtio.RegionStats { return d.pool.Stats() }

// FreeBytes is the pool's free memory, for the shell's mem command.
func (d *HeapDMA) FreeBytes() int64 { return int64(d.pool.Available()) }
