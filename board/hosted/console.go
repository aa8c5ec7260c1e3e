//go:build linux && (amd64 || arm64)

package hosted

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// EOT (Ctrl-D) on the console is end of input: a serial line has no end
// of file of its own, so the host side (qemu/run) sends this byte when its
// standard input ends, and the shell sees io.EOF.
const EOT = 0x04

// Console is the serial console, set raw: no echo (the host would read its
// own commands back), no line editing, no CR/LF translation in either
// direction. Reads end at EOT.
type Console struct {
	f   *os.File
	eof bool
}

// OpenConsole opens a serial tty (normally /dev/ttyS0) and sets it raw.
func OpenConsole(path string) (*Console, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("hosted: console: %w", err)
	}
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("hosted: console %s: %w", path, err)
	}
	// cfmakeraw(3).
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		f.Close()
		return nil, fmt.Errorf("hosted: console %s: %w", path, err)
	}
	return &Console{f: f}, nil
}

// Read reads console input up to, not including, an EOT byte; from then
// on it returns io.EOF.
func (c *Console) Read(p []byte) (int, error) {
	if c.eof {
		return 0, io.EOF
	}
	n, err := c.f.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == EOT {
			c.eof = true
			if i == 0 {
				return 0, io.EOF
			}
			return i, nil
		}
	}
	return n, err
}

// Write writes to the console.
func (c *Console) Write(p []byte) (int, error) { return c.f.Write(p) }

// Drain waits until everything written has left the UART (tcdrain), so
// that nothing is lost when the machine powers off right after.
func (c *Console) Drain() error {
	return unix.IoctlSetInt(int(c.f.Fd()), unix.TCSBRK, 1)
}

// Close drains and closes the console.
func (c *Console) Close() error {
	err := c.Drain()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	return err
}
