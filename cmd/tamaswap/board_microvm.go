//go:build tamago && amd64

package main

import (
	"fmt"
	"io"

	"github.com/tamaswap/tamaswap/board/microvm"
	"github.com/tamaswap/tamaswap/cmd/internal/shell"
	"github.com/tamaswap/tamaswap/virtio"
)

var brd = board{
	platform: microvm.Platform,
	console:  func() io.ReadWriter { return microvm.NewConsole() },
	banner: func() string {
		start, end := microvm.RAM()
		hz, clock := microvm.TSCFrequency()
		return fmt.Sprintf("board=%s cpus=%d ram=%#x+%dM tsc_hz=%d clock=%s", microvm.Platform, microvm.NumCPU(), start, (end-start)>>20, hz, clock)
	},
	entropy:         "rdrand",
	blockTransports: microvm.BlockTransports,
	dma:             func() virtio.DMA { return microvm.DMA() },
	dmaFree:         func() int64 { return microvm.DMA().FreeBytes() },
	powerOff:        microvm.PowerOff,
	irq:             microvmIRQ,
	rewire:          microvmRewire,
}

// microvmIRQ wires the disk's interrupt (virtio-mmio: its I/O APIC line;
// PCI: MSI-X, or INTx) and switches it to the board's default mode.
func microvmIRQ(t virtio.Transport, d *virtioDisk) (shell.Interrupter, error) {
	d.SetHybridPoll(microvm.HybridPoll)
	i, err := microvm.WireInterrupt(t, d)
	if err != nil {
		return nil, err
	}
	if microvm.InterruptsByDefault {
		if err := i.UseInterrupts(true); err != nil {
			return nil, err
		}
	}
	return i, nil
}

// microvmRewire maps a PCI function's events to the MSI-X table entries
// microvm.WireInterrupt gave them, again, after a device reset unmapped
// them (see microvm.RestoreMSIXVectors). virtio-mmio's I/O APIC lines
// and INTx are the machine's: nothing to restore.
func microvmRewire(t virtio.Transport) error { return microvm.RestoreMSIXVectors(t) }
