package qemu_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/qemu"
	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// wholeBench is the bench command of TestTamaGoWholeWorkloadList: every
// workload, short runs. Long enough that the old heap-allocated DMA
// buffers and the pacer without a memory limit ran a 64 MiB image out of
// memory in it (results/memory.md), short enough for make test.
const wholeBench = "bench --size 32M --ms 500"

// allWorkloads is bench's default list, in order (cmd/internal/workload.All,
// which this package may not import).
var allWorkloads = []string{"seqwrite-1M", "seqread-1M", "randread-4K-qd1", "randwrite-4K-qd1", "randread-4K-qd16",
	"swap-append-64K", "swap-read-64K", "seed-append", "seed-read", "swap-append-64K-enc", "swap-read-64K-enc",
	"aead-seal-4K", "aead-open-4K", "copy-64K", "randread-4K-qd1-jobs2", "randread-4K-qd16-jobs2"}

var memLine = regexp.MustCompile(`^heap_inuse=(\d+) heap_sys=(\d+) heap_idle=(\d+) limit=(\d+) num_gc=(\d+) dma_free=(\d+)$`)

// TestTamaGoWholeWorkloadList runs the whole bench workload list and an
// encrypted swaptest in one TamaGo image, on microvm's virtio-mmio and
// PCIe, and checks that the image neither dies nor grows: the memory
// limit is set below the runtime's RAM, the heap after the run is no
// larger than one arena past where it was before, and the DMA pool gives
// back what the workloads took.
func TestTamaGoWholeWorkloadList(t *testing.T) { qemu.ForQEMUs(t, testTamaGoWholeWorkloadList) }

func testTamaGoWholeWorkloadList(t *testing.T, q string) {
	for _, m := range []string{harness.MachineMicrovm, harness.MachinePCI} {
		t.Run(m, func(t *testing.T) {
			path := tamagoDisk(t, "disk.img", 1<<21, zeroSectors) // 1 GiB, sparse
			lines := tamagoBoot(t, harness.Options{QEMU: q, Machine: m, Drives: []string{harness.DiskDrive(path)}},
				"mem", wholeBench, "swaptest 64M --encrypt", "mem", "exit 0")
			benches := tamagoResults(lines, "bench")
			if len(benches) != len(allWorkloads) {
				t.Errorf("%d bench lines, want one per workload (%d): %q", len(benches), len(allWorkloads), benches)
			}
			for i, w := range allWorkloads {
				if i < len(benches) && !strings.HasPrefix(benches[i], w+" ") {
					t.Errorf("bench line %d: %q, want workload %s", i, benches[i], w)
				}
			}
			for _, b := range benches {
				if strings.Contains(b, "error") {
					t.Errorf("%s", b)
				}
			}
			if s := tamagoResults(lines, "swaptest"); len(s) == 0 || !strings.HasPrefix(s[len(s)-1], "PASS") {
				t.Errorf("swaptest: %q", s)
			}
			mems := tamagoResults(lines, "mem")
			if len(mems) != 2 {
				t.Fatalf("mem lines %q, want 2", mems)
			}
			var v [2][6]uint64
			for i, l := range mems {
				f := memLine.FindStringSubmatch(l)
				if f == nil {
					t.Fatalf("mem line %q", l)
				}
				for j := range 6 {
					v[i][j], _ = strconv.ParseUint(f[j+1], 10, 64)
				}
			}
			const ram = 128 << 20 // board/microvm.RAMSize
			if limit := v[0][3]; limit == 0 || limit >= ram || limit != v[1][3] {
				t.Errorf("limit %d then %d, want the same, below the runtime's %d bytes of RAM", v[0][3], v[1][3], ram)
			}
			if before, after := v[0][1], v[1][1]; after > before+4<<20 {
				t.Errorf("heap_sys grew from %d to %d over the run", before, after)
			}
			// The swap managers the shell keeps hold their buffers;
			// everything else the workloads took is back.
			if v[1][5] == 0 || v[1][5] > v[0][5] {
				t.Errorf("dma_free %d before, %d after", v[0][5], v[1][5])
			}
			t.Logf("%s: mem %s; mem %s", m, mems[0], mems[1])
		})
	}
}
