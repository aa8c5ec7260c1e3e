package shell

import (
	"runtime"
	"runtime/debug"
)

// runMem prints the Go heap's figures (runtime.MemStats, in bytes), the
// runtime's memory limit (debug.SetMemoryLimit, which a TamaGo board sets
// from the RAM it owns), the number of completed GC cycles and, where
// the board has a DMA region, its free bytes.
func runMem(s *shell, args []string) (int, bool) {
	if len(args) != 0 {
		s.usage("mem", nil)
		return 0, false
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	format := "mem: heap_inuse=%d heap_sys=%d heap_idle=%d limit=%d num_gc=%d"
	limit := debug.SetMemoryLimit(-1)
	if s.cfg.DMAFree == nil {
		s.printf(format, ms.HeapInuse, ms.HeapSys, ms.HeapIdle, limit, ms.NumGC)
		return 0, false
	}
	s.printf(format+" dma_free=%d", ms.HeapInuse, ms.HeapSys, ms.HeapIdle, limit, ms.NumGC, s.cfg.DMAFree())
	return 0, false
}
