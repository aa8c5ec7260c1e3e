//go:build linux && (amd64 || arm64)

package hosted

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tamaswap/tamaswap/virtio"
)

// hugePageSize is the hugepage size the hosted guest reserves
// (hugepagesz=2M): the default on arm64 and amd64 with 4 KiB pages.
const hugePageSize = 2 << 20

// hugeDMA is DMA memory in hugepages, as Linux user-space drivers (DPDK,
// SPDK) take it: anonymous hugetlb memory, populated and locked, whose
// pages are never moved or swapped, with each page's physical address
// from /proc/self/pagemap. A 2 MiB hugepage is physically contiguous, but
// two pages need not be: the memory is one virtio.Region per run of
// pages whose physical addresses follow each other, and no allocation,
// so no ring or buffer, crosses from one run into the next.
type hugeDMA struct {
	mem     []byte
	runs    []*virtio.Region
	largest int // bytes in the largest run
}

// openHugeDMA maps every hugepage of size pageSize the kernel has
// reserved (/proc/sys/vm/nr_hugepages: hugepages= on its command line).
func openHugeDMA(pageSize int) (*hugeDMA, error) {
	b, err := os.ReadFile("/proc/sys/vm/nr_hugepages")
	if err != nil {
		return nil, fmt.Errorf("hosted: hugepages: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return nil, errors.New("hosted: no hugepages reserved for DMA memory (hugepagesz=2M hugepages=N on the kernel command line)")
	}
	mem, err := unix.Mmap(-1, 0, n*pageSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_HUGETLB|unix.MAP_POPULATE|unix.MAP_LOCKED)
	if err != nil {
		return nil, fmt.Errorf("hosted: mmap %d hugepages: %w", n, err)
	}
	// hugetlb pages are never swapped; mlock says so to the kernel
	// anyway, and MAP_POPULATE has faulted every page in.
	if err := unix.Mlock(mem); err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("hosted: mlock hugepages: %w", err)
	}
	phys, err := pagemap(mem, pageSize)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	d, err := newHugeDMA(mem, pageSize, phys)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	return d, nil
}

// pagemap returns the physical address of each page of mem from
// /proc/self/pagemap (Documentation/admin-guide/mm/pagemap.rst): one
// 64-bit entry per base page, bit 63 present, bits 0-54 the page frame
// number, which reads as 0 without CAP_SYS_ADMIN.
func pagemap(mem []byte, pageSize int) ([]uint64, error) {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil, fmt.Errorf("hosted: %w", err)
	}
	defer f.Close()
	base := uint64(os.Getpagesize())
	phys := make([]uint64, len(mem)/pageSize)
	var e [8]byte
	for i := range phys {
		v := uint64(uintptr(unsafe.Pointer(&mem[i*pageSize])))
		if _, err := f.ReadAt(e[:], int64(v/base*8)); err != nil {
			return nil, fmt.Errorf("hosted: pagemap: %w", err)
		}
		entry := binary.LittleEndian.Uint64(e[:])
		pfn := entry & (1<<55 - 1)
		if entry>>63 == 0 || pfn == 0 {
			return nil, fmt.Errorf("hosted: pagemap gives no physical address for hugepage %d (entry %#x): not present, or no CAP_SYS_ADMIN", i, entry)
		}
		phys[i] = pfn * base
	}
	return phys, nil
}

// newHugeDMA splits mem, pages of pageSize at physical addresses phys,
// into runs of physically consecutive pages.
func newHugeDMA(mem []byte, pageSize int, phys []uint64) (*hugeDMA, error) {
	if pageSize <= 0 || len(phys) == 0 || len(mem) != len(phys)*pageSize {
		return nil, fmt.Errorf("hosted: %d bytes of DMA memory in %d pages of %d", len(mem), len(phys), pageSize)
	}
	d := &hugeDMA{mem: mem}
	start := 0
	for i := 1; i <= len(phys); i++ {
		if i < len(phys) && phys[i] == phys[i-1]+uint64(pageSize) {
			continue
		}
		if phys[start]%uint64(pageSize) != 0 {
			return nil, fmt.Errorf("hosted: hugepage at physical %#x not aligned to its size", phys[start])
		}
		run := mem[start*pageSize : i*pageSize : i*pageSize]
		r, err := virtio.NewRegion(run, phys[start])
		if err != nil {
			return nil, err
		}
		d.runs = append(d.runs, r)
		d.largest = max(d.largest, len(run))
		start = i
	}
	return d, nil
}

// Alloc returns memory from the first run with room.
func (d *hugeDMA) Alloc(size, align int) ([]byte, uint64, error) {
	var err error
	for _, r := range d.runs {
		var buf []byte
		var addr uint64
		if buf, addr, err = r.Alloc(size, align); err == nil {
			return buf, addr, nil
		}
		if !errors.Is(err, virtio.ErrNoDMAMemory) {
			return nil, 0, err
		}
	}
	return nil, 0, fmt.Errorf("%w (%d bytes aligned to %d; physically contiguous runs of at most %d bytes)", virtio.ErrNoDMAMemory, size, align, d.largest)
}

// Free gives back a buffer from Alloc to its run.
func (d *hugeDMA) Free(buf []byte) {
	for _, r := range d.runs {
		if _, ok := r.Addr(buf); ok {
			r.Free(buf)
			return
		}
	}
}

// Addr returns buf's physical address when it lies in one run. It
// allocates nothing: it is on every request's path.
func (d *hugeDMA) Addr(buf []byte) (uint64, bool) {
	for _, r := range d.runs {
		if a, ok := r.Addr(buf); ok {
			return a, true
		}
	}
	return 0, false
}

func (d *hugeDMA) String() string {
	return fmt.Sprintf("%d MiB of hugepages in %d physically contiguous runs", len(d.mem)>>20, len(d.runs))
}

// Close unmaps the memory; no device may use it any more.
func (d *hugeDMA) Close() error {
	if d.mem == nil {
		return nil
	}
	err := unix.Munmap(d.mem)
	d.mem, d.runs = nil, nil
	return err
}
