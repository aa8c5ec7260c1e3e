//go:build tamago && arm64

package main

import (
	"fmt"
	"io"

	"github.com/tamaswap/tamaswap/board/virt"
	"github.com/tamaswap/tamaswap/cmd/internal/shell"
	"github.com/tamaswap/tamaswap/virtio"
)

var brd = board{
	platform: virt.Platform,
	console:  func() io.ReadWriter { return virt.NewConsole() },
	banner: func() string {
		start, end := virt.RAM()
		return fmt.Sprintf("board=%s ram=%#x+%dM timer_hz=%d", virt.Platform, start, (end-start)>>20, virt.TimerHz())
	},
	entropy:         "rndr",
	blockTransports: virt.BlockTransports,
	dma:             func() virtio.DMA { return virt.DMA() },
	dmaFree:         func() int64 { return virt.DMA().FreeBytes() },
	powerOff:        virt.PowerOff,
	// The GIC's SPIs and the PCI INTx lines are the distributor's and
	// the function's own: a device reset leaves them as they are.
	irq: func(t virtio.Transport, d *virtioDisk) (shell.Interrupter, error) {
		d.SetHybridPoll(virt.HybridPoll)
		q, err := virt.DiskInterrupt(t, d)
		if err != nil {
			return nil, err
		}
		return q, q.UseInterrupts(virt.DefaultInterrupts)
	},
}
