//go:build linux && amd64

package hosted

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Implemented in regs_amd64.s: one MOV of the named width each.
//
//go:noescape
func load8(addr uintptr) uint8

//go:noescape
func load16(addr uintptr) uint16

//go:noescape
func load32(addr uintptr) uint32

//go:noescape
func load64(addr uintptr) uint64

//go:noescape
func store8(addr uintptr, v uint8)

//go:noescape
func store16(addr uintptr, v uint16)

//go:noescape
func store32(addr uintptr, v uint32)

//go:noescape
func store64(addr uintptr, v uint64)

func outb(port uint16, v uint8)

// Window is a register region mapped into this process: a virtio-mmio
// slot or a PCI memory BAR. It implements virtio.Regs with single
// loads and stores of each access's width (regs_amd64.s), never through
// the Go compiler's own memory accesses, which it may merge or elide.
//
// An access outside the window reads as all ones and writes nothing, as
// an access to nowhere does on a PCI bus: Regs has no error results and
// a driver bug must not corrupt memory.
type Window struct {
	base uintptr // address of the first register
	size uint32
	keep []byte // the mapping base points into
}

// newWindow returns the window of size bytes at offset off of a mapping.
func newWindow(m []byte, off int, size uint32) (*Window, error) {
	if off < 0 || off > len(m) || uint64(size) > uint64(len(m)-off) || size == 0 {
		return nil, fmt.Errorf("hosted: window %#x+%#x outside a %#x-byte mapping", off, size, len(m))
	}
	return &Window{base: uintptr(unsafe.Pointer(&m[off])), size: size, keep: m}, nil
}

// Size returns the window's length in bytes.
func (w *Window) Size() uint32 { return w.size }

func (w *Window) ok(off, n uint32) bool { return off <= w.size && n <= w.size-off }

func (w *Window) Read8(off uint32) uint8 {
	if !w.ok(off, 1) {
		return 0xff
	}
	return load8(w.base + uintptr(off))
}

func (w *Window) Read16(off uint32) uint16 {
	if !w.ok(off, 2) {
		return 0xffff
	}
	return load16(w.base + uintptr(off))
}

func (w *Window) Read32(off uint32) uint32 {
	if !w.ok(off, 4) {
		return 0xffffffff
	}
	return load32(w.base + uintptr(off))
}

func (w *Window) Read64(off uint32) uint64 {
	if !w.ok(off, 8) {
		return ^uint64(0)
	}
	return load64(w.base + uintptr(off))
}

func (w *Window) Write8(off uint32, v uint8) {
	if w.ok(off, 1) {
		store8(w.base+uintptr(off), v)
	}
}

func (w *Window) Write16(off uint32, v uint16) {
	if w.ok(off, 2) {
		store16(w.base+uintptr(off), v)
	}
}

func (w *Window) Write32(off uint32, v uint32) {
	if w.ok(off, 4) {
		store32(w.base+uintptr(off), v)
	}
}

func (w *Window) Write64(off uint32, v uint64) {
	if w.ok(off, 8) {
		store64(w.base+uintptr(off), v)
	}
}

// physMapping is a range of physical memory mapped through /dev/mem.
type physMapping struct {
	mem  []byte // the page-aligned mapping
	off  int    // offset of the requested address in mem
	size int
}

// mapPhys maps size bytes of physical memory at addr through /dev/mem.
// uncached (O_SYNC) is for device registers; DMA memory is ordinary RAM
// and is mapped write-back, which keeps QEMU's view coherent (TCG and KVM
// alike access guest RAM directly).
func mapPhys(addr uint64, size int, uncached bool) (*physMapping, error) {
	flags := unix.O_RDWR | unix.O_CLOEXEC
	if uncached {
		flags |= unix.O_SYNC
	}
	fd, err := unix.Open("/dev/mem", flags, 0)
	if err != nil {
		return nil, fmt.Errorf("hosted: open /dev/mem: %w", err)
	}
	// The mapping stays valid after the descriptor is closed.
	defer unix.Close(fd)
	page := uint64(unix.Getpagesize())
	start := addr &^ (page - 1)
	length := (addr + uint64(size) - start + page - 1) &^ (page - 1)
	mem, err := unix.Mmap(fd, int64(start), int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("hosted: mmap /dev/mem %#x+%#x: %w", addr, size, err)
	}
	return &physMapping{mem: mem, off: int(addr - start), size: size}, nil
}

// bytes returns the requested range.
func (m *physMapping) bytes() []byte { return m.mem[m.off : m.off+m.size : m.off+m.size] }

func (m *physMapping) close() error {
	if m == nil || m.mem == nil {
		return nil
	}
	err := unix.Munmap(m.mem)
	m.mem = nil
	return err
}
