package qemu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// TestKernelPath boots the hosted runtime with tamaswap.path=kernel (issue
// 6's kernel path): the guest loads the kernel's own virtio modules and
// the shell works on /dev/vda and /dev/vdb through O_DIRECT
// (board/hosted.KernelDisk). Data written in the guest reaches the image,
// the conformance selftest passes, a read-only disk refuses writes, and
// `bench` runs the same workloads.
func TestKernelPath(t *testing.T) { forQEMUs(t, testKernelPath) }

func testKernelPath(t *testing.T, q string) {
	needQEMU(t)
	for _, c := range []struct{ machine, transport string }{
		{harness.MachineMicrovm, "mmio"},
		{harness.MachinePCI, "pci"},
	} {
		t.Run(c.transport, func(t *testing.T) {
			t.Parallel()
			img := newImage(t, "disk.img", 16<<20, true)
			ro := newImage(t, "ro.img", 4<<20, true)
			untouched := hashImage(t, img, 512, 64, 64)
			roHash := hashImage(t, ro, 512, 0, 8192)
			g := boot(t, harness.Options{
				Runtime: "hosted", QEMU: q, Machine: c.machine, Append: []string{"tamaswap.path=kernel"},
				Drives: []string{harness.DiskDrive(img), harness.DiskDrive(ro) + ",readonly=on"},
			},
				"info", "fill 0 64 90", "sum 0 64", "sum 64 64", "selftest",
				"bench --size 1M --ms 200 seqread-1M randread-4K-qd1", // read-only workloads: the image is checked after
				"use 1", "fill 0 8 1", "sum 0 8192", "exit 3")
			if g.status != 3 {
				t.Errorf("exit status %d, want 3", g.status)
			}
			info := g.results("info")
			want0 := fmt.Sprintf("disk=0 transport=%s version=modern sectors=32768 sector_size=512 ro=false features=", c.transport)
			want1 := fmt.Sprintf("disk=1 transport=%s version=modern sectors=8192 sector_size=512 ro=true features=", c.transport)
			if len(info) < 2 || !strings.HasPrefix(info[len(info)-2], want0) || !strings.HasPrefix(info[len(info)-1], want1) {
				t.Errorf("info printed %q, want lines starting %q and %q", info, want0, want1)
			} else if !strings.Contains(info[len(info)-1], "VERSION_1") {
				t.Errorf("info %q: the kernel's features lack VERSION_1", info[len(info)-1])
			}
			g.want(t, "fill", "ok", "error: *")
			if fill := g.results("fill"); len(fill) == 2 && !strings.Contains(fill[1], "read-only") {
				t.Errorf("fill on the read-only disk printed %q, want an error containing read-only", fill[1])
			}
			g.want(t, "sum", sumOf(90, 64*512), untouched, roHash)
			g.want(t, "selftest", "PASS")
			g.want(t, "bench", "seqread-1M mib_s=*", "randread-4K-qd1 mib_s=*")
			if got := hashImage(t, img, 512, 0, 64); got != sumOf(90, 64*512) {
				t.Errorf("image sectors 0..63 hash %s on the host, want %d bytes of 90", got, 64*512)
			}
			if got := hashImage(t, img, 512, 64, 64); got != untouched {
				t.Errorf("image sectors 64..127 changed: hash %s, was %s", got, untouched)
			}
			if got := hashImage(t, ro, 512, 0, 8192); got != roHash {
				t.Errorf("read-only image changed: hash %s, was %s", got, roHash)
			}
		})
	}
}
