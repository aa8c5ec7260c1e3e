//go:build tamago && arm

package imx6

import (
	"io"
	"time"

	"github.com/usbarmory/tamago/soc/nxp/uart"
)

// EOT (Ctrl-D) ends console input: a serial line has no end of file of its
// own, so qemu/run sends this byte when its standard input ends.
const EOT = 0x04

// consolePoll is how long Console.Read sleeps when the UART has no input.
// The i.MX UART's receive FIFO holds 32 characters, and QEMU stops feeding
// it when it is full, so nothing is lost in between.
const consolePoll = time.Millisecond

// Console is a serial console on one of the SoC's UARTs (which one is the
// board's: UART2 on the USB armory, UART1 on the EVK): no echo, no line
// editing, no CR/LF translation.
type Console struct {
	UART *uart.UART
	eof  bool
}

// Read blocks until at least one byte of input arrives and returns what
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
		time.Sleep(consolePoll)
	}
}

// Write writes p to the UART; Tx waits for room in the transmit FIFO.
func (c *Console) Write(p []byte) (int, error) {
	for _, b := range p {
		c.UART.Tx(b)
	}
	return len(p), nil
}
