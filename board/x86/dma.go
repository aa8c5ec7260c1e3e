//go:build amd64

package x86

import "github.com/tamaswap/tamaswap/board/heapdma"

// HeapDMA is DMA memory over the identity-mapped Go heap (package
// heapdma, shared with the arm64 board).
type HeapDMA = heapdma.HeapDMA

// NewHeapDMA returns DMA memory over the identity-mapped RAM [lo, hi),
// typically runtime.MemRegion().
func NewHeapDMA(lo, hi uint64) *HeapDMA { return heapdma.New(lo, hi) }
