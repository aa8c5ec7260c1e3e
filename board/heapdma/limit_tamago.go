//go:build tamago

package heapdma

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// SetMemoryLimit sets the runtime's memory limit to MemoryLimit for a
// program image ending at dataEnd in RAM ending at ramEnd, and returns
// it.
func SetMemoryLimit(dataEnd, ramEnd uint64) (int64, error) {
	limit := MemoryLimit(dataEnd, ramEnd)
	if limit <= 0 {
		return 0, fmt.Errorf("heapdma: no room for a heap between the image's end %#x and RAM's end %#x", dataEnd, ramEnd)
	}
	debug.SetMemoryLimit(limit)
	return limit, nil
}

// Boot is what a TamaGo board does at init, before its heap grows: it
// sets the memory limit from the RAM the runtime owns
// (runtime.MemRegion, less the image up to runtime.DataRegion's end)
// and carves the DMA pool of poolSize bytes out of the heap.
func Boot(poolSize int) (*HeapDMA, error) {
	start, end := runtime.MemRegion()
	_, dataEnd := runtime.DataRegion()
	if _, err := SetMemoryLimit(uint64(dataEnd), uint64(end)); err != nil {
		return nil, err
	}
	return New(uint64(start), uint64(end), poolSize)
}
