//go:build tamago && arm

package main

import (
	"errors"
	"fmt"

	"github.com/tamaswap/tamaswap/board/imx6"
	"github.com/tamaswap/tamaswap/cmd/internal/shell"
)

// openDisk sets controller c up and opens the card in it.
func openDisk(c *imx6.Controller, dma *imx6.DMA) (shell.Disk, error) {
	regs, hz, err := c.Init()
	if err != nil {
		return shell.Disk{}, err
	}
	// HOST_CTRL_CAP (IMX6ULLRM 58.8.14): proof the controller answers.
	return shell.Disk{}, fmt.Errorf("uSDHC at %#x (root clock %d Hz, HOST_CTRL_CAP %#x): %w",
		regs.Addr(), hz, regs.Read32(0x40), errors.New("no SD/MMC driver wired yet"))
}
