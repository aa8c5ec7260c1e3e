//go:build tamago && arm

// Package usbarmory is tamaswap's board support for the USB armory Mk II
// (NXP i.MX6ULZ/ULL, Cortex-A7) under GOOS=tamago GOARCH=arm: it imports
// upstream's board/usbarmory/mk2 as it is (SoC, MMU and caches, clocks,
// console on UART2, the uSDHC write-protect pads) and adds what the SD/MMC
// stack needs, through package imx6: the microSD slot on uSDHC1 (4 data
// lines; absent on the UA-MKII-LAN) and the eMMC on uSDHC2 (8 data lines),
// their clocks and pads, DMA memory and the exit status.
//
// QEMU has no USB armory; its mcimx6ul-evk machine has the same SoC family
// and peripherals at the same addresses, and runs this board with the
// console on its second UART (-serial null -serial stdio). QEMU emulates
// SD cards on both controllers, no eMMC.
package usbarmory

import (
	"github.com/usbarmory/tamago/board/usbarmory/mk2"

	"github.com/tamaswap/tamaswap/board/imx6"
	"github.com/tamaswap/tamaswap/board/serial"
)

// Platform names the board in the shell's banner.
const Platform = "usbarmory"

// Console is the serial console: UART2, on the USB Type-C debug accessory
// (or the LAN model's test pads).
func Console() *serial.Console { return &serial.Console{UART: mk2.UART2} }

// Model is the board's model name as upstream reads it from the OTP
// fuses ("UA-MKII-β" under QEMU, which has none).
func Model() string {
	_, name := mk2.Model()
	return name
}

// Controllers returns the uSDHC controllers the board wires, in the order
// qemu/run attaches disks (-drive if=sd,index=0 is uSDHC1).
func Controllers() []*imx6.Controller {
	var cs []*imx6.Controller
	m, _ := mk2.Model()
	if m != mk2.LAN {
		sd := &imx6.Controller{Index: 1, Name: "usdhc1", Slot: "microSD", Width: mk2.SD_BUS_WIDTH,
			PadData: padUSDHC1, PadClock: padUSDHC1}
		if m == mk2.GAMMA {
			// The γ's microSD I/O rail is the PF1510's LDO3, which
			// upstream switches to 1.8 V for SDR104 (mk2
			// lowVoltageSD); set it to 3.3 V as upstream's
			// lowVoltageSD(false) does. The β's rail is fixed.
			sd.IOVoltage3V3 = sdRail3V3
		}
		cs = append(cs, sd)
	}
	return append(cs, &imx6.Controller{Index: 2, Name: "usdhc2", Slot: "eMMC", Width: mk2.MMC_BUS_WIDTH,
		PadData: padUSDHC2Data, PadClock: padUSDHC2Clock})
}

// Pad settings of the board's Linux device tree
// (github.com/usbarmory/usbarmory, software/kernel_conf/mark-two/
// imx6ulz-512M-usbarmory.dts and its 1G and imx6ul siblings: pinctrl_usdhc1
// and pinctrl_usdhc2, the default state used up to 52 MHz). Decoded
// (IMX6ULLRM 32.6, SW_PAD_CTL_PAD_*):
//   - 0x1f019: hysteresis, 22 kΩ pull-up, keeper/pull enabled, low speed
//     (50 MHz), drive strength R0/3, fast slew: every microSD pad.
//   - 0x17059: hysteresis, 47 kΩ pull-up, medium speed (100 MHz), R0/3,
//     fast slew: the eMMC's CMD and DATA0-7.
//   - 0x10069: hysteresis, no pull or keeper, medium speed, R0/5, fast
//     slew: the eMMC's CLK.
const (
	padUSDHC1      = 0x1f019
	padUSDHC2Data  = 0x17059
	padUSDHC2Clock = 0x10069
)

// sdRail3V3 writes LDO3_VOLT_3V3 to the PF1510 over I2C1, as upstream's
// board/usbarmory/mk2 lowVoltageSD(false).
func sdRail3V3() error {
	return mk2.I2C1.Write([]byte{mk2.LDO3_VOLT_3V3}, mk2.PF1510_ADDR, mk2.PF1510_LDO3_VOLT, 1)
}

// Entropy names the runtime's random source (see imx6.Entropy).
func Entropy() (string, bool) { return imx6.Entropy() }

// DMA is the memory the uSDHC controllers reach: the Go heap, with cache
// maintenance (see imx6.DMA).
func DMA() *imx6.DMA { return imx6.HeapDMA() }

// PowerOff ends the program with status (see imx6.PowerOff).
func PowerOff(status int) { imx6.PowerOff(status) }
