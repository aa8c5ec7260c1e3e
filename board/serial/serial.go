// Package serial is the shell's console over a polled UART, for TamaGo
// boards (board/microvm's 16550 on COM1, board/virt's PL011): no echo, no
// line editing, no CR/LF translation, since qemu/run reads lines as the
// program writes them.
package serial

import (
	"io"
	"time"
)

// UART is a polled serial port: Tx waits until the transmitter takes c;
// Rx returns a received byte, or false when none is waiting.
type UART interface {
	Tx(c byte)
	Rx() (c byte, ok bool)
}

// EOT (Ctrl-D) ends console input: a serial line has no end of file of its
// own, so qemu/run sends this byte when its standard input ends.
const EOT = 0x04

// Poll is how long Read sleeps when the UART has no input. A UART's
// receive FIFO holds 16 bytes or more, and QEMU stops feeding it when it
// is full, so nothing is lost while Read sleeps.
const Poll = time.Millisecond

// Console is an io.ReadWriter over a UART.
type Console struct {
	UART UART
	eof  bool
}

// Read blocks until at least one byte of input arrives, and returns what
// the UART has; after an EOT byte it returns io.EOF.
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
			b, ok := c.UART.Rx()
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
		time.Sleep(Poll)
	}
}

// Write writes p to the UART.
func (c *Console) Write(p []byte) (int, error) {
	for _, b := range p {
		c.UART.Tx(b)
	}
	return len(p), nil
}
