//go:build arm64

package arm64

// Barrier is one of virtio's three memory barriers (Linux's virtio_wmb,
// virtio_rmb and virtio_mb), as the Arm architecture provides them for a
// device in the outer shareable domain (ARM ARM B2.3.11, "Memory
// barriers"; Linux arch/arm64/include/asm/barrier.h, dma_wmb, dma_rmb,
// mb).
type Barrier uint8

// The barriers.
const (
	// BarrierWrite: earlier stores to ring and buffer memory are seen by
	// the device before later ones (before publishing the available
	// index). DMB OSHST.
	BarrierWrite Barrier = iota + 1
	// BarrierRead: later loads of ring memory happen after the earlier
	// load of the used index. DMB OSHLD.
	BarrierRead
	// BarrierFull: earlier stores complete before later loads and before
	// later register writes (after publishing the available index,
	// before reading the used ring's flags or avail_event). DSB SY.
	BarrierFull
)

// Do executes the barrier; an unknown value executes the full one.
func (b Barrier) Do() {
	switch b {
	case BarrierWrite:
		dmbOSHST()
	case BarrierRead:
		dmbOSHLD()
	default:
		dsbSY()
	}
}

// In mmio_arm64.s.
func dmbOSHST()
func dmbOSHLD()
func dsbSY()
