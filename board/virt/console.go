//go:build tamago && arm64

package virt

import (
	_ "unsafe"

	"github.com/tamaswap/tamaswap/board/arm64"
	"github.com/tamaswap/tamaswap/board/serial"
)

// PL011 registers (ARM PrimeCell UART (PL011) Technical Reference Manual,
// 3.2 "Summary of registers").
const (
	uartDR = 0x00 // data
	uartFR = 0x18 // flags

	frRXFE = 1 << 4 // receive FIFO empty
	frTXFF = 1 << 5 // transmit FIFO full
)

// PL011 is a polled PrimeCell UART. QEMU's needs no set-up: it transmits
// and receives from reset, at whatever baud rate.
type PL011 struct {
	Base uint64
	regs *arm64.MMIO
}

func (u *PL011) r() *arm64.MMIO {
	if u.regs == nil {
		u.regs = arm64.NewMMIO(u.Base, 0x1000)
	}
	return u.regs
}

// Tx transmits c once the transmit FIFO has room.
func (u *PL011) Tx(c byte) {
	r := u.r()
	for r.Read32(uartFR)&frTXFF != 0 {
	}
	r.Write32(uartDR, uint32(c))
}

// Rx returns a received byte, if any.
func (u *PL011) Rx() (byte, bool) {
	r := u.r()
	if r.Read32(uartFR)&frRXFE != 0 {
		return 0, false
	}
	return byte(r.Read32(uartDR)), true
}

// printk is the runtime's character output (goos.Printk): print, panics
// and fatal errors go to the PL011. It runs from the first instruction of
// the runtime on, before memory allocation works, so it allocates
// nothing.
//
//go:linkname printk runtime/goos.Printk
func printk(c byte) {
	for arm64.Load32(UART0Base+uartFR)&frTXFF != 0 {
	}
	arm64.Store32(UART0Base+uartDR, uint32(c))
}

// Console is the serial console on the PL011 (see package serial).
type Console = serial.Console

// NewConsole returns the serial console on UART0.
func NewConsole() *Console { return &Console{UART: UART0} }
