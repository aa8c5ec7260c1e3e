package shell_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/tamaswap/tamaswap/cmd/internal/shell"
	"github.com/tamaswap/tamaswap/drivers/block"
)

// skipBanner drops the banner's first line, which names the Go version.
type skipBanner struct{ seen bool }

func (w *skipBanner) Write(p []byte) (int, error) {
	if !w.seen {
		w.seen = true
		return len(p), nil
	}
	return os.Stdout.Write(p)
}

func ExampleRun() {
	disk := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 8192}) // 4 MiB
	script := strings.Join([]string{
		"fill 0 8 69",
		"sum 0 1",
		"use 1",
		"swapstat",
		"frob",
		"exit 7",
		"info", // not run: exit came first
	}, "\n")
	status := shell.Run(shell.Config{
		Runtime:  "hosted",
		Platform: "microvm",
		In:       strings.NewReader(script),
		Out:      &skipBanner{},
		Disks:    []shell.Disk{{Dev: disk, Transport: "mmio", Version: "modern", Features: []string{"FLUSH", "VERSION_1"}}},
	})
	fmt.Println("status", status) // a board powers off with it
	// Output:
	// info: disk=0 transport=mmio version=modern sectors=8192 sector_size=512 ro=false features=FLUSH,VERSION_1 irq=poll
	// fill: ok
	// sum: e4b0d4324dd30703dafa59e883b377855a978255e650aa78790ae8b05abd7242
	// use: error: disk 1: out of range (1 disks: 0 to 0)
	// swapstat: total=4 free=4
	// frob: error: unknown command (try help)
	// status 7
}
