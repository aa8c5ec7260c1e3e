//go:build tamago && amd64

package microvm

import (
	"io"
	"time"
	_ "unsafe"
)

// printk is the runtime's character output (goos.Printk): print, panics
// and fatal errors go to COM1.
//
//go:linkname printk runtime/goos.Printk
func printk(c byte) {
	UART0.Tx(c)
}

// EOT (Ctrl-D) ends console input: a serial line has no end of file of its
// own, so qemu/run sends this byte when its standard input ends.
const EOT = 0x04

// consolePoll is how long Console.Read sleeps when COM1 has no input. The
// UART's receive FIFO holds 16 bytes and QEMU stops feeding it when it is
// full, so nothing is lost while we sleep; the CPU halts in between.
const consolePoll = time.Millisecond

// Console is the serial console on COM1: no echo, no line editing, no CR/LF
// translation (qemu/run reads lines as the program writes them).
type Console struct {
	eof bool
}

// Read blocks until at least one byte of input arrives, and returns what
// COM1 has; after an EOT byte it returns io.EOF.
func (c *Console) Read(p []byte) (int, error) {
	if c.eof {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n := 0
		for n < len(p) {
			b, ok := UART0.Rx()
			if !ok {
				break
			}
			if b == EOT {
				c.eof = true
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
			p[n] = b
			n++
		}
		if n > 0 {
			return n, nil
		}
		time.Sleep(consolePoll)
	}
}

// Write writes p to COM1.
func (c *Console) Write(p []byte) (int, error) {
	for _, b := range p {
		UART0.Tx(b)
	}
	return len(p), nil
}
