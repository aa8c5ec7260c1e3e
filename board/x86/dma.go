//go:build amd64

package x86

import "github.com/tamaswap/tamaswap/board/heapdma"

// HeapDMA is DMA memory over the identity-mapped Go heap (package
// heapdma, shared with the arm64 and i.MX6 boards).
type HeapDMA = heapdma.HeapDMA
