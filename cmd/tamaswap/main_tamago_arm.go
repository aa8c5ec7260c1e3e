//go:build tamago && arm

// The unikernel on the i.MX6UL boards: the board (upstream's, imported by
// ours) brings up the SoC before main runs; main sets up each uSDHC
// controller the board wires, opens the card in it as a block device,
// hands the disks to the shell on the board's console and ends with the
// shell's status. Which board is a build tag: none (or usbarmory) for the
// USB armory Mk II, mx6ullevk for the i.MX6ULL EVK; images for QEMU add
// semihosting, so that the exit status reaches it.
package main

import (
	"fmt"
	"runtime"

	"github.com/tamaswap/tamaswap/board/imx6"
	"github.com/tamaswap/tamaswap/board/serial"
	"github.com/tamaswap/tamaswap/cmd/internal/shell"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

// armBoard is the board package the build tags picked (board_*.go): both
// have the same functions.
type armBoard struct {
	Platform    string
	Model       func() string
	Console     func() *serial.Console
	Controllers func() []*imx6.Controller
	Entropy     func() (name string, trueRNG bool)
	DMA         func() *imx6.DMA
	PowerOff    func(status int)
}

func main() {
	con := board.Console()
	start, end := runtime.MemRegion()
	entropy, trueRNG := board.Entropy()
	// Encrypted swap refuses a source that is not a true RNG (swapfs
	// ErrWeakEntropy) unless told otherwise.
	swapfs.SetEntropySource(entropy, trueRNG)
	fmt.Fprintf(con, "tamaswap: board=%s model=%s ram=%#x+%dM cache_line=%d semihosting=%t entropy=%s\n",
		board.Platform, board.Model(), start, (end-start)>>20, board.DMA().CacheLine(), imx6.Semihosting, entropy)
	var disks []shell.Disk
	for _, c := range board.Controllers() {
		d, desc, err := openDisk(c, board.DMA())
		if err != nil {
			// An empty slot, or a card that failed to
			// identify: say so and carry on with the others.
			fmt.Fprintf(con, "tamaswap: %s (%s): %v\n", c.Name, c.Slot, err)
			continue
		}
		fmt.Fprintf(con, "tamaswap: %s (%s): disk %d: %s\n", c.Name, c.Slot, len(disks), desc)
		if card, ok := d.Dev.(interface{ Ladder() string }); ok {
			fmt.Fprintf(con, "tamaswap: %s (%s): bus: %s\n", c.Name, c.Slot, card.Ladder())
		}
		disks = append(disks, d)
	}
	status := shell.Run(shell.Config{
		Runtime:  "tamago",
		Platform: board.Platform,
		In:       con,
		Out:      con,
		Disks:    disks,
		DMAFree:  board.DMA().FreeBytes,
	})
	for _, d := range disks {
		_ = d.Dev.Disconnect()
	}
	board.PowerOff(status)
}
