package qemu_test

// Upstream boards: board/tamago/example, the program the README's "Using
// it from your own program" shows, built with the TamaGo compiler against
// each of upstream TamaGo's KVM boards. They are built, not booted: the
// boards need KVM, which these machines lack (the image this module boots
// under TCG uses its own board/microvm). Without a TamaGo compiler the
// test skips.

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

func TestUpstreamBoardsBuild(t *testing.T) {
	goCmd, err := harness.FindTamaGo()
	if err != nil {
		t.Skip("skipped: no TamaGo compiler")
	}
	root, err := harness.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct{ name, tag, board string }{
		{"firecracker", "firecracker", "github.com/usbarmory/tamago/board/firecracker/microvm"},
		{"cloud_hypervisor", "cloud_hypervisor", "github.com/usbarmory/tamago/board/cloud_hypervisor/vm"},
		{"qemu_microvm", "", "github.com/usbarmory/tamago/board/qemu/microvm"}, // the default
	} {
		t.Run(b.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "example-"+b.name+".elf")
			args := append(goCmd[1:len(goCmd):len(goCmd)], "build", "-tags", b.tag, "-trimpath",
				"-ldflags", harness.TamagoLDFlags, "-o", out, "./board/tamago/example")
			cmd := exec.Command(goCmd[0], args...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(),
				"GOOS=tamago", "GOARCH=amd64", "GOOSPKG=github.com/usbarmory/tamago",
				"CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, msg)
			}
			f, err := elf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			syms, err := f.Symbols()
			if err != nil {
				t.Fatal(err)
			}
			// The image holds the upstream board's start-up (its
			// package init sets up the DMA region; its Init is linked
			// as the runtime's Hwinit1), our driver and swap manager,
			// and the disks' interrupts: routed by board/tamago,
			// serviced by upstream's amd64 package.
			want := map[string]bool{
				b.board + ".init.0":    false,
				b.board + ".UART0":     false,
				"runtime/goos.Hwinit1": false,
				"github.com/tamaswap/tamaswap/board/tamago.Machine.open":     false,
				"github.com/tamaswap/tamaswap/board/tamago.Machine.Route":    false,
				"github.com/tamaswap/tamaswap/board/tamago.Handler.func1":    false,
				"github.com/usbarmory/tamago/amd64.(*CPU).ServiceInterrupts": false,
				"github.com/tamaswap/tamaswap/drivers/virtioblk.New":         false,
				"github.com/tamaswap/tamaswap/drivers/swapfs.New":            false,
			}
			for _, s := range syms {
				if _, ok := want[s.Name]; ok {
					want[s.Name] = true
				}
			}
			for name, found := range want {
				if !found {
					t.Errorf("%s: symbol %s missing", out, name)
				}
			}
			st, _ := os.Stat(out)
			t.Logf("built %s against %s: ELF %s, entry %#x, %d bytes (built, not booted: the board needs KVM)",
				"board/tamago/example", b.board, f.Machine, f.Entry, st.Size())
		})
	}
}
