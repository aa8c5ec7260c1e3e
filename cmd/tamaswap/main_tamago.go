//go:build tamago && !arm

// The unikernel: the board (board_*.go: board/microvm on amd64, board/virt
// on arm64; the arm boards, whose disks are SD cards, have their own main
// in main_tamago_arm.go) brings up the machine (clock, console, power-off) before main
// runs; main finds the virtio-blk disks, hands them to the shell on the
// serial console and powers off with the shell's status.
package main

import (
	"fmt"
	"io"

	"github.com/tamaswap/tamaswap/cmd/internal/shell"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
	"github.com/tamaswap/tamaswap/drivers/virtioblk"
	"github.com/tamaswap/tamaswap/virtio"
)

func main() {
	con := brd.console()
	// Both sources are the CPU's true random generators (RDRAND,
	// RNDR), which crypto/rand draws from under TamaGo: encrypted swap
	// takes them.
	swapfs.SetEntropySource(brd.entropy, true)
	fmt.Fprintf(con, "tamaswap: %s entropy=%s\n", brd.banner(), brd.entropy)
	ts, err := brd.blockTransports()
	if err != nil {
		// Some device could not be set up (e.g. a transitional PCI
		// device's I/O BAR on a machine without an I/O window): say
		// so and carry on with the others.
		fmt.Fprintf(con, "tamaswap: %v\n", err)
	}
	var disks []shell.Disk
	for _, t := range ts {
		var rewire func() error
		if brd.rewire != nil {
			rewire = func() error { return brd.rewire(t) }
		}
		d, err := newVirtioDisk(func() (*virtioblk.Device, error) { return virtioblk.New(t, brd.dma()) }, rewire)
		if err != nil {
			fmt.Fprintf(con, "tamaswap: %s disk: %v\n", t.Name(), err)
			continue
		}
		version := "modern"
		if t.Legacy() {
			version = "legacy"
		}
		disk := shell.Disk{
			Dev:       d,
			Transport: t.Name(),
			Version:   version,
			Features:  d.Device().FeatureNames(),
			Queues:    d.Device().NumQueues(),
			Ring:      d.Device().Ring(),
		}
		if brd.irq != nil {
			q, err := brd.irq(t, d)
			if err != nil {
				fmt.Fprintf(con, "tamaswap: %s disk: interrupt: %v (it polls)\n", t.Name(), err)
			} else {
				disk.IRQ = q
			}
		}
		disks = append(disks, disk)
	}
	status := shell.Run(shell.Config{
		Runtime:  "tamago",
		Platform: brd.platform,
		In:       con,
		Out:      con,
		Disks:    disks,
		DMAFree:  brd.dmaFree,
	})
	for _, d := range disks {
		_ = d.Dev.Disconnect()
	}
	brd.powerOff(status)
}

// board is what main needs from the TamaGo board of its arch.
type board struct {
	platform        string
	console         func() io.ReadWriter
	banner          func() string
	entropy         string // the source of crypto/rand, for the banner and swapfs
	blockTransports func() ([]virtio.Transport, error)
	dma             func() virtio.DMA
	dmaFree         func() int64 // the DMA pool's free bytes
	powerOff        func(status int)
	// irq wires a disk's completion interrupt and sets the board's
	// default mode; nil where the board wires none (the disk polls).
	irq func(t virtio.Transport, d *virtioDisk) (shell.Interrupter, error)
	// rewire restores what a device reset undid of irq's wiring, before
	// a disk found again (info, after its driver declared it broken)
	// takes requests; nil where the wiring survives a reset.
	rewire func(t virtio.Transport) error
}
