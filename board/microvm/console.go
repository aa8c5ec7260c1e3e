//go:build tamago && amd64

package microvm

import (
	_ "unsafe"

	"github.com/tamaswap/tamaswap/board/serial"
)

// printk is the runtime's character output (goos.Printk): print, panics
// and fatal errors go to COM1.
//
//go:linkname printk runtime/goos.Printk
func printk(c byte) {
	UART0.Tx(c)
}

// Console is the serial console on COM1 (see package serial).
type Console = serial.Console

// NewConsole returns the serial console on COM1.
func NewConsole() *Console { return &Console{UART: UART0} }
