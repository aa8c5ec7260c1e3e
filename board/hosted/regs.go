//go:build linux && (amd64 || arm64)

package hosted

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// window checks that size bytes at offset off lie in mapping m, and
// returns them.
func window(m []byte, off int, size uint32) ([]byte, error) {
	if off < 0 || off > len(m) || uint64(size) > uint64(len(m)-off) || size == 0 {
		return nil, fmt.Errorf("hosted: window %#x+%#x outside a %#x-byte mapping", off, size, len(m))
	}
	return m[off : off+int(size) : off+int(size)], nil
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
