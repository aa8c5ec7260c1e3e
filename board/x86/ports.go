//go:build amd64

package x86

import (
	"github.com/tamaswap/tamaswap/board/internal/fence"
	"github.com/tamaswap/tamaswap/virtio"
)

// Ports is a range of x86 I/O ports, such as a PCI I/O BAR, as
// virtio.Regs. Each call is one IN or OUT instruction of the named width,
// except the 64-bit ones: the I/O address space has no 64-bit accesses, so
// they are two 32-bit ones, low half first (virtio 1.2 §4.1.3.1 lets the
// driver split 64-bit fields this way).
//
// An access outside the range reads as all ones and writes nothing.
type Ports struct {
	base uint16
	size uint32
}

// NewPorts returns the size ports starting at base.
func NewPorts(base uint16, size uint32) *Ports {
	if uint32(base)+size > 1<<16 {
		size = 1<<16 - uint32(base)
	}
	return &Ports{base: base, size: size}
}

// Base is the first port of the range.
func (p *Ports) Base() uint16 { return p.base }

// Size is the number of ports in the range.
func (p *Ports) Size() uint32 { return p.size }

func (p *Ports) ok(off, n uint32) bool {
	return off < p.size && p.size-off >= n
}

func (p *Ports) Read8(off uint32) uint8 {
	if !p.ok(off, 1) {
		return 0xff
	}
	return inb(p.base + uint16(off))
}

func (p *Ports) Read16(off uint32) uint16 {
	if !p.ok(off, 2) {
		return 0xffff
	}
	return inw(p.base + uint16(off))
}

func (p *Ports) Read32(off uint32) uint32 {
	if !p.ok(off, 4) {
		return 0xffffffff
	}
	return inl(p.base + uint16(off))
}

func (p *Ports) Read64(off uint32) uint64 {
	if !p.ok(off, 8) {
		return ^uint64(0)
	}
	lo := inl(p.base + uint16(off))
	hi := inl(p.base + uint16(off) + 4)
	return uint64(hi)<<32 | uint64(lo)
}

func (p *Ports) Write8(off uint32, v uint8) {
	if p.ok(off, 1) {
		outb(p.base+uint16(off), v)
	}
}

func (p *Ports) Write16(off uint32, v uint16) {
	if p.ok(off, 2) {
		outw(p.base+uint16(off), v)
	}
}

func (p *Ports) Write32(off uint32, v uint32) {
	if p.ok(off, 4) {
		outl(p.base+uint16(off), v)
	}
}

func (p *Ports) Write64(off uint32, v uint64) {
	if p.ok(off, 8) {
		outl(p.base+uint16(off), uint32(v))
		outl(p.base+uint16(off)+4, uint32(v>>32))
	}
}

// Barrier is virtio.Regs' memory barrier. An OUT already waits for
// earlier stores to drain (Intel SDM Vol. 1, "Ordering I/O"), but the
// barrier is the same as for MMIO so that no caller depends on that.
func (p *Ports) Barrier(b virtio.Barrier) { fence.Do(b) }
