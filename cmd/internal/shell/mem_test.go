package shell

import (
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

// TestMem: mem prints one line with the named fields, in order, and
// dma_free only where the board has a DMA region.
func TestMem(t *testing.T) {
	old := debug.SetMemoryLimit(96 << 20)
	defer debug.SetMemoryLimit(old)
	want := regexp.MustCompile(`^mem: heap_inuse=[1-9][0-9]* heap_sys=[1-9][0-9]* heap_idle=[0-9]+ limit=100663296 num_gc=[0-9]+( dma_free=12345)?$`)
	for _, dma := range []bool{false, true} {
		out := &lines{t: t}
		cfg := Config{In: strings.NewReader("mem\nmem extra\n"), Out: out}
		if dma {
			cfg.DMAFree = func() int64 { return 12345 }
		}
		Run(cfg)
		got := out.l[1:] // after the banner
		if len(got) != 2 || !want.MatchString(got[0]) || strings.Contains(got[0], "dma_free") != dma {
			t.Errorf("DMA region %t: mem printed %q", dma, got)
		}
		if len(got) == 2 && !strings.HasPrefix(got[1], "mem: error: usage") {
			t.Errorf("mem with an argument: %q", got[1])
		}
	}
}
