//go:build tamago && amd64

package main

import (
	"fmt"
	"io"

	"github.com/tamaswap/tamaswap/board/microvm"
	"github.com/tamaswap/tamaswap/virtio"
)

var brd = board{
	platform: microvm.Platform,
	console:  func() io.ReadWriter { return microvm.NewConsole() },
	banner: func() string {
		start, end := microvm.RAM()
		hz, clock := microvm.TSCFrequency()
		return fmt.Sprintf("board=%s ram=%#x+%dM tsc_hz=%d clock=%s", microvm.Platform, start, (end-start)>>20, hz, clock)
	},
	entropy:         "rdrand",
	blockTransports: microvm.BlockTransports,
	dma:             func() virtio.DMA { return microvm.DMA() },
	dmaFree:         func() int64 { return microvm.DMA().FreeBytes() },
	powerOff:        microvm.PowerOff,
}
