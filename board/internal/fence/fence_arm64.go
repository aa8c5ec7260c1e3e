package fence

// Implemented in fence_arm64.s. Arm ARM (DDI 0487) B2.3: the device sits
// in the outer shareable domain and its registers are Device memory, so
// the ring barriers are outer shareable and the full one is a DSB, which
// also completes the CPU's earlier accesses before a later Device store.

// Write is DMB OSHST (Linux dma_wmb).
func Write()

// Read is DMB OSHLD (Linux dma_rmb).
func Read()

// Full is DSB SY (Linux mb).
func Full()
