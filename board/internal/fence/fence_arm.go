package fence

// Implemented in fence_arm.s for ARMv7 (GOARM=7, TamaGo's arm boards):
// the barriers Linux's arm port uses for DMA and devices.

// Write is DMB ST (Linux dma_wmb).
func Write()

// Read is DMB SY (Linux dma_rmb: ARMv7 has no load-only DMB).
func Read()

// Full is DSB SY (Linux mb with a device).
func Full()
