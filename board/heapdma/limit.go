package heapdma

// The Go runtime under TamaGo takes its memory from one range: from the
// end of the program image (DataRegion's end, past .bss) up to the
// bottom of the g0 stack at the top of RAM, moving a break (the runtime's
// sbrk, mem_sbrk.go) up as it needs more. The heap grows there in arenas
// of ArenaBytes, each aligned to its size; metadata, goroutine stacks of
// new OS threads (8 MiB each) and GC structures come from the same range.
// When the next arena does not fit, the runtime dies ("out of memory:
// cannot allocate 4194304-byte block"), however much of the heap is
// garbage: GOGC sizes the heap from the live data (twice it, by default)
// and knows nothing of where RAM ends. debug.SetMemoryLimit tells it.
const (
	// ArenaBytes is the heap arena size on GOOS=tamago
	// (runtime/malloc.go, logHeapArenaBytes: 2+20 bits).
	ArenaBytes = 4 << 20
	// StackReserve is what sits above the runtime's break at the top of
	// RAM: the g0 stack (64 KiB, runtime/asm_*.s rt0_go) below
	// goos.RamStackOffset (0x100), rounded up.
	StackReserve = 64<<10 + 4096
)

// HeapSpace returns the bytes the runtime can give its heap in RAM that
// ends at ramEnd, for a program image that ends at dataEnd: whole
// arenas between the first arena boundary past the image and the last
// one below the g0 stack.
func HeapSpace(dataEnd, ramEnd uint64) uint64 {
	if ramEnd < StackReserve {
		return 0
	}
	lo := (dataEnd + ArenaBytes - 1) &^ (ArenaBytes - 1)
	hi := (ramEnd - StackReserve) &^ (ArenaBytes - 1)
	if hi <= lo {
		return 0
	}
	return hi - lo
}

// MemoryLimit returns the limit for debug.SetMemoryLimit that keeps the
// runtime inside HeapSpace(dataEnd, ramEnd), with headroom for what the
// limit does not see in time: one arena for the alignment slack left
// when metadata moves the break between two heap arenas, and 1/16 of the
// space for the collector's lag (the limit is soft: the heap may
// overshoot it while a cycle runs). It returns 0 when there is no room
// for a heap at all.
func MemoryLimit(dataEnd, ramEnd uint64) int64 {
	space := HeapSpace(dataEnd, ramEnd)
	headroom := uint64(ArenaBytes) + space/16
	if space <= headroom {
		return 0
	}
	return int64(space - headroom)
}
