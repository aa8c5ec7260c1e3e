package virtio

import (
	"errors"
	"fmt"
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

	mu   sync.Mutex
	free []span          // sorted by offset, never adjacent
	used map[uintptr]int // start pointer of each live allocation -> size
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
		// Split s into [s.off,start) and [start+size, s.off+s.n).
		var rest []span
		if start > s.off {
			rest = append(rest, span{s.off, start - s.off})
		}
		if end := s.off + s.n; start+size < end {
			rest = append(rest, span{start + size, end - start - size})
		}
		r.free = append(r.free[:i], append(rest, r.free[i+1:]...)...)
		buf := r.mem[start : start+size : start+size]
		clear(buf)
		r.used[uintptr(unsafe.Pointer(&buf[0]))] = size
		return buf, r.addr + uint64(start), nil
	}
	return nil, 0, fmt.Errorf("%w: %d bytes aligned to %d", ErrNoDMAMemory, size, align)
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
	off := int(p - uintptr(unsafe.Pointer(&r.mem[0])))
	i := sort.Search(len(r.free), func(i int) bool { return r.free[i].off > off })
	r.free = append(r.free, span{})
	copy(r.free[i+1:], r.free[i:])
	r.free[i] = span{off, size}
	// Merge with the following and the preceding span.
	if i+1 < len(r.free) && r.free[i].off+r.free[i].n == r.free[i+1].off {
		r.free[i].n += r.free[i+1].n
		r.free = append(r.free[:i+1], r.free[i+2:]...)
	}
	if i > 0 && r.free[i-1].off+r.free[i-1].n == r.free[i].off {
		r.free[i-1].n += r.free[i].n
		r.free = append(r.free[:i], r.free[i+1:]...)
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
	n := 0
	for _, s := range r.free {
		n += s.n
	}
	return n
}
