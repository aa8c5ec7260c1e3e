package virtio

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"unsafe"
)

// Region is DMA memory carved out of one fixed range whose device-visible
// address is known: a memmap=-reserved range mapped through /dev/mem, a
// board's DMA window, or a device model's shared memory. It implements DMA
// with a first-fit allocator that merges neighbouring free spans.
type Region struct {
	mem  []byte
	addr uint64

	mu    sync.Mutex
	free  []span          // sorted by offset, never adjacent
	used  map[uintptr]int // start pointer of each live allocation -> size
	inUse int             // bytes handed out and not freed
	peak  int             // the most inUse has been
}

type span struct{ off, n int }

// ErrNoDMAMemory is returned when a Region has no free span large enough.
var ErrNoDMAMemory = errors.New("virtio: out of DMA memory")

// RegionPageSize is the granule in which a Region's host and device
// addresses must agree: Alloc aligns device addresses, and the driver's
// atomic ring accesses need the same alignment in its own address space.
const RegionPageSize = 4096

// NewRegion returns an allocator over mem, whose first byte the device
// sees at addr. The host address of mem and addr must be congruent modulo
// RegionPageSize (as any page mapping's are), or an allocation aligned
// for the device would be misaligned for the CPU; the range must not wrap
// the device's 64-bit address space.
func NewRegion(mem []byte, addr uint64) (*Region, error) {
	if len(mem) > 0 {
		host := uintptr(unsafe.Pointer(&mem[0]))
		if uint64(host)%RegionPageSize != addr%RegionPageSize {
			return nil, fmt.Errorf("virtio: DMA region at driver address %#x and device address %#x: not congruent modulo %d", host, addr, RegionPageSize)
		}
		if uint64(len(mem))-1 > ^uint64(0)-addr {
			return nil, fmt.Errorf("virtio: DMA region of %d bytes at device address %#x wraps the address space", len(mem), addr)
		}
	}
	r := &Region{mem: mem, addr: addr, used: make(map[uintptr]int)}
	if len(mem) > 0 {
		r.free = []span{{0, len(mem)}}
	}
	return r, nil
}

// Alloc returns size zeroed bytes aligned to align in device addresses.
// It takes the first free span that fits (first fit), so memory handed
// out early and kept (rings, headers, bounce slots) packs at the bottom
// and transient buffers reuse the space above it. Once the free list has
// reached its largest length, Alloc and Free allocate nothing.
func (r *Region) Alloc(size, align int) ([]byte, uint64, error) {
	if size <= 0 || align <= 0 || align&(align-1) != 0 {
		return nil, 0, fmt.Errorf("virtio: bad DMA allocation size %d align %d", size, align)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	a := uint64(align)
	for i, s := range r.free {
		// The padding that aligns the span's device address, computed
		// without rounding past the top of the address space; it is
		// below align, so it fits an int.
		pad := (a - (r.addr+uint64(s.off))%a) % a
		if pad > uint64(s.n) || uint64(size) > uint64(s.n)-pad {
			continue
		}
		start := s.off + int(pad)
		end := s.off + s.n
		// Split s in place into [s.off,start) and [start+size, end).
		switch {
		case start > s.off && start+size < end:
			r.free[i].n = start - s.off
			r.free = slices.Insert(r.free, i+1, span{start + size, end - start - size})
		case start > s.off:
			r.free[i].n = start - s.off
		case start+size < end:
			r.free[i] = span{start + size, end - start - size}
		default:
			r.free = slices.Delete(r.free, i, i+1)
		}
		buf := r.mem[start : start+size : start+size]
		clear(buf)
		r.used[uintptr(unsafe.Pointer(&buf[0]))] = size
		r.inUse += size
		r.peak = max(r.peak, r.inUse)
		return buf, r.addr + uint64(start), nil
	}
	return nil, 0, fmt.Errorf("%w: %d bytes aligned to %d (%d of %d bytes free, largest free span %d)",
		ErrNoDMAMemory, size, align, len(r.mem)-r.inUse, len(r.mem), r.largest())
}

// Free gives back a buffer from Alloc. Freeing anything else is ignored.
func (r *Region) Free(buf []byte) {
	if len(buf) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(&buf[0]))
	r.mu.Lock()
	defer r.mu.Unlock()
	size, ok := r.used[p]
	if !ok {
		return
	}
	delete(r.used, p)
	r.inUse -= size
	off := int(p - uintptr(unsafe.Pointer(&r.mem[0])))
	i := sort.Search(len(r.free), func(i int) bool { return r.free[i].off > off })
	// Merge with the following and the preceding span, inserting a
	// span only when it touches neither.
	after := i < len(r.free) && off+size == r.free[i].off
	before := i > 0 && r.free[i-1].off+r.free[i-1].n == off
	switch {
	case before && after:
		r.free[i-1].n += size + r.free[i].n
		r.free = slices.Delete(r.free, i, i+1)
	case before:
		r.free[i-1].n += size
	case after:
		r.free[i] = span{off, size + r.free[i].n}
	default:
		r.free = slices.Insert(r.free, i, span{off, size})
	}
}

// Addr returns the device address of buf when all of buf lies in the
// region.
func (r *Region) Addr(buf []byte) (uint64, bool) {
	if len(buf) == 0 || len(r.mem) == 0 {
		return 0, false
	}
	base := uintptr(unsafe.Pointer(&r.mem[0]))
	p := uintptr(unsafe.Pointer(&buf[0]))
	if p < base || p-base+uintptr(len(buf)) > uintptr(len(r.mem)) {
		return 0, false
	}
	return r.addr + uint64(p-base), true
}

// Slice returns the n bytes at device address addr, as the device sees
// them, or ok=false when they do not all lie in the region. Device models
// use it to follow the addresses a driver writes into descriptors.
func (r *Region) Slice(addr uint64, n uint64) ([]byte, bool) {
	if addr < r.addr || n > uint64(len(r.mem)) || addr-r.addr > uint64(len(r.mem))-n {
		return nil, false
	}
	off := addr - r.addr
	return r.mem[off : off+n : off+n], true
}

// Available returns the number of free bytes (ignoring fragmentation).
func (r *Region) Available() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mem) - r.inUse
}

// RegionStats are a Region's figures, in bytes.
type RegionStats struct {
	Size    int // the whole region
	Free    int // not handed out
	Largest int // the largest free span: the most one Alloc can get
	Peak    int // the most ever handed out at once
	Spans   int // free spans: 1 when nothing is fragmented
}

// Stats returns the region's figures.
func (r *Region) Stats() RegionStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RegionStats{Size: len(r.mem), Free: len(r.mem) - r.inUse, Largest: r.largest(), Peak: r.peak, Spans: len(r.free)}
}

func (r *Region) largest() int {
	n := 0
	for _, s := range r.free {
		n = max(n, s.n)
	}
	return n
}
