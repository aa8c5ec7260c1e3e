package qemu

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// TestEncryptedSwapOnDisk checks encrypted swap against QEMU's real device: the
// host holding the swap disk cannot read what encrypted swap stored.
// swaptest streams the byte 'E' (0x45); after `swaptest --encrypt` the raw
// image holds no 16-byte run of it, while after a plain swaptest on an
// identical disk the same scan finds it, so the scan itself can fail.
func TestEncryptedSwapOnDisk(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	run := bytes.Repeat([]byte{'E'}, 16)
	for _, c := range []struct {
		name, flag string
		wantRun    bool
	}{
		{"encrypted", " --encrypt", false},
		{"plain", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := newImage(t, "swap.img", 64<<20, false)
			g := boot(t, harness.Options{Runtime: "hosted", Drives: []string{harness.DiskDrive(img)}},
				"swaptest 16M 64K"+c.flag, "exit 0")
			if g.status != 0 {
				t.Errorf("exit status %d, want 0", g.status)
			}
			r := g.results("swaptest")
			if len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=16777216 ") {
				t.Fatalf("swaptest 16M%s printed %q, want PASS", c.flag, r)
			}
			raw, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			n := bytes.Count(raw, run)
			if got := n > 0; got != c.wantRun {
				t.Errorf("%d runs of 16 'E' bytes in the raw image after swaptest%s, want any: %v", n, c.flag, c.wantRun)
			}
			t.Logf("%d runs of 16 'E' bytes in the raw image", n)
		})
	}
}
