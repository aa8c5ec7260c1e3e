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

// microvmRewire maps a PCI function's events to its MSI-X table entry 0
// again after a device reset: the reset unmaps them (QEMU
// hw/virtio/virtio.c virtio_reset: config_vector and every queue's
// vector back to VIRTIO_NO_VECTOR), while the table entry and the MSI-X
// enable bit, PCI state, stay. microvm.WireInterrupt maps both to entry
// 0 (board/microvm/irq.go, wireMSIX); a function without an MSI-X table,
// on INTx, refuses the mapping (the device reads back NO_VECTOR, virtio
// 1.2 §4.1.5.1.2) and has nothing to restore. virtio-mmio's I/O APIC
// lines are the machine's: nothing to restore either.
func microvmRewire(t virtio.Transport) error {
	p, ok := t.(*virtio.PCI)
	if !ok || t.Legacy() {
		return nil
	}
	_ = p.SetMSIXVectors(0, 0, 0)
	return nil
}
