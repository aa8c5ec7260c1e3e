//go:build tamago && arm

package main

import (
	"fmt"
	"strings"

	"github.com/tamaswap/tamaswap/board/imx6"
	"github.com/tamaswap/tamaswap/cmd/internal/shell"
	"github.com/tamaswap/tamaswap/drivers/sdmmc"
	"github.com/tamaswap/tamaswap/drivers/usdhc"
)

// openDisk sets controller c up, identifies the card in it and returns it
// as the shell's disk, with a line describing it for the console.
func openDisk(c *imx6.Controller, dma *imx6.DMA) (shell.Disk, string, error) {
	regs, hz, err := c.Init()
	if err != nil {
		return shell.Disk{}, "", err
	}
	host := &usdhc.Host{
		Regs:      regs,
		DMA:       dma,
		BaseClock: hz,
		Width:     sdmmc.BusWidth(c.Width),
		// Neither board wires the controllers' card-detect input
		// (the EVK's slot detect is a GPIO), and neither microSD
		// nor eMMC has a write-protect switch (the upstream boards
		// route WP to an unconnected pad): identification itself
		// finds out whether a card answers.
		NonRemovable:   true,
		NoWriteProtect: true,
		DMAAlign:       dma.CacheLine(),
	}
	if err := host.Init(); err != nil {
		return shell.Disk{}, "", err
	}
	card, err := sdmmc.New(host, sdmmc.Options{})
	if err != nil {
		host.Close()
		return shell.Disk{}, "", err
	}
	bus := card.Bus()
	features := []string{fmt.Sprintf("WIDTH%d", bus.Width), fmt.Sprintf("CLOCK%d", bus.Clock)}
	if bus.HighSpeed {
		features = append(features, "HS")
	}
	disk := shell.Disk{
		Dev:        card,
		Transport:  "usdhc",
		Controller: c.Name,
		Version:    strings.ToLower(card.Kind().String()),
		Features:   features,
	}
	// Identification polls; the board's default mode starts here. A
	// line that cannot be wired leaves the disk polling.
	desc := card.String()
	q, err := imx6.DiskInterrupt(c, host)
	if err == nil {
		err = q.UseInterrupts(imx6.DefaultInterrupts)
	}
	if err != nil {
		desc += fmt.Sprintf(" (interrupt: %v; it polls)", err)
	} else {
		disk.IRQ = q
	}
	return disk, desc, nil
}
