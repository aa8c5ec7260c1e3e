package qemu

import (
	"strings"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// arm64 boot tests beyond the shared ones (forTargets in boot_test.go runs
// every transport and version, read-only, blkdebug faults and 4 KiB
// logical blocks on arm64 too, and tamago_test.go TamaGo's clock on
// virt): a 1 GiB swap stream through the TamaGo heap (128 MiB of RAM for
// the runtime, 88 MiB of heap space; see the README, "Memory").

// TestTamaGoARM64Swap streams 1 GiB, more than ten times the Go heap, through
// swap and reads it back.
func TestTamaGoARM64Swap(t *testing.T) { forQEMUs(t, testTamaGoARM64Swap) }

func testTamaGoARM64Swap(t *testing.T, q string) {
	tg := target{"tamago", "arm64", q}
	needTarget(t, tg)
	t.Parallel()
	img := newImage(t, "swap.img", 2<<30, false)
	opts := tg.options()
	opts.Drives = []string{harness.DiskDrive(img)}
	opts.Timeout = 20 * time.Minute
	g := boot(t, opts, "swaptest 1G", "swapstat", "exit 0")
	if g.status != 0 {
		t.Errorf("exit status %d, want 0", g.status)
	}
	if b := g.results("tamaswap"); len(b) == 0 || !strings.HasPrefix(b[0], "board=virt ram=0x40000000+128M ") {
		t.Errorf("banner %q, want the virt board with 128 MiB for the runtime", b)
	}
	r := g.results("swaptest")
	if len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=1073741824 ") {
		t.Errorf("swaptest 1G on the fixed heap printed %q, want PASS", r)
	} else {
		t.Log(r[len(r)-1])
	}
	g.want(t, "swapstat", "total=2048 free=2048")
}
