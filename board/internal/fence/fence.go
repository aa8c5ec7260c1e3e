// Package fence is the CPU side of virtio.Barrier for every architecture
// a board runs on: the instructions that order a driver's stores and
// loads of memory it shares with a device against each other and against
// its register accesses. Every board's virtio.Regs implements Barrier with
// Do.
//
// The barriers are those Linux uses for virtio rings shared with real
// hardware (virtio_wmb, virtio_rmb and virtio_mb with weak_barriers off):
// a device is not a CPU of the inner shareable domain, so the inner
// shareable barriers Go's own atomics use are not enough.
package fence

import "github.com/tamaswap/tamaswap/virtio"

// Do executes barrier b; an unknown value is taken as a full barrier, the
// strongest.
func Do(b virtio.Barrier) {
	switch b {
	case virtio.BarrierWrite:
		Write()
	case virtio.BarrierRead:
		Read()
	default:
		Full()
	}
}
