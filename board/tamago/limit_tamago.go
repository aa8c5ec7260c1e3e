//go:build tamago

package tamago

import (
	"runtime"

	"github.com/tamaswap/tamaswap/board/heapdma"
)

// MemoryLimit is the runtime memory limit this package set at init from
// the RAM upstream's board gives the runtime (heapdma.MemoryLimit), or
// the error that kept it from setting one. Upstream's boards set none,
// and their DMA region (dma.Default()) lies outside that RAM, so the
// limit is the heap's alone.
var MemoryLimit, MemoryLimitErr = setMemoryLimit()

func setMemoryLimit() (int64, error) {
	_, end := runtime.MemRegion()
	_, dataEnd := runtime.DataRegion()
	return heapdma.SetMemoryLimit(uint64(dataEnd), uint64(end))
}
