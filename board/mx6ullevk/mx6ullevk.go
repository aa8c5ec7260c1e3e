//go:build tamago && arm

// Package mx6ullevk is tamaswap's board support for NXP's i.MX6ULL EVK
// (MCIMX6ULL-EVK) under GOOS=tamago GOARCH=arm: it imports upstream's
// board/nxp/mx6ullevk as it is (SoC, MMU and caches, clocks, console on
// UART1, the uSDHC write-protect pads) and adds, through package imx6, what
// the SD/MMC stack needs: the base board's SD slot on uSDHC1 and the
// second slot on uSDHC2 (4 data lines each), their clocks and pads, DMA
// memory and the exit status.
//
// QEMU's mcimx6ul-evk machine runs it with the console on its first UART
// (-serial stdio) and an SD card on each controller.
package mx6ullevk

import (
	evk "github.com/usbarmory/tamago/board/nxp/mx6ullevk"

	"github.com/tamaswap/tamaswap/board/imx6"
	"github.com/tamaswap/tamaswap/board/serial"
)

// Platform names the board in the shell's banner.
const Platform = "mx6ullevk"

// Console is the serial console: UART1, on the EVK's USB debug port.
func Console() *serial.Console { return &serial.Console{UART: evk.UART1} }

// Model names the board.
func Model() string { return "MCIMX6ULL-EVK" }

// Controllers returns the uSDHC controllers the board wires, in the order
// qemu/run attaches disks (-drive if=sd,index=0 is uSDHC1).
func Controllers() []*imx6.Controller {
	return []*imx6.Controller{
		{Index: 1, Name: "usdhc1", Slot: "SD", Width: evk.SD1_BUS_WIDTH},
		{Index: 2, Name: "usdhc2", Slot: "SD", Width: evk.SD2_BUS_WIDTH},
	}
}

// Entropy names the runtime's random source (see imx6.Entropy).
func Entropy() (string, bool) { return imx6.Entropy() }

// DMA is the memory the uSDHC controllers reach: the Go heap, with cache
// maintenance (see imx6.DMA).
func DMA() *imx6.DMA { return imx6.HeapDMA() }

// PowerOff ends the program with status (see imx6.PowerOff).
func PowerOff(status int) { imx6.PowerOff(status) }
