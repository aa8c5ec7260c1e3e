package virtiotest

import "github.com/tamaswap/tamaswap/virtio"

// window is one register region of the model (the mmio window, PCI
// configuration space, a BAR). Every access, whatever its width, goes to
// one function with the offset, the width in bytes, whether it writes and
// the value written; reads return the value read.
type window func(off uint32, size int, write bool, v uint64) uint64

func (w window) Read8(off uint32) uint8       { return uint8(w(off, 1, false, 0)) }
func (w window) Read16(off uint32) uint16     { return uint16(w(off, 2, false, 0)) }
func (w window) Read32(off uint32) uint32     { return uint32(w(off, 4, false, 0)) }
func (w window) Read64(off uint32) uint64     { return w(off, 8, false, 0) }
func (w window) Write8(off uint32, v uint8)   { w(off, 1, true, uint64(v)) }
func (w window) Write16(off uint32, v uint16) { w(off, 2, true, uint64(v)) }
func (w window) Write32(off uint32, v uint32) { w(off, 4, true, uint64(v)) }
func (w window) Write64(off uint32, v uint64) { w(off, 8, true, v) }

// Barrier is nothing: the model is Go code in the driver's process that
// reads and writes the ring words with sync/atomic, so Go's memory model
// already orders the driver's ring stores before its atomic idx store and
// the model's loads after its atomic idx load.
func (w window) Barrier(virtio.Barrier) {}

// splitAccess makes one access function of a read and a write function.
func splitAccess(read func(off uint32, size int) uint64, write func(off uint32, size int, v uint64)) window {
	return func(off uint32, size int, w bool, v uint64) uint64 {
		if w {
			write(off, size, v)
			return 0
		}
		return read(off, size)
	}
}
