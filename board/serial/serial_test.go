package serial

import (
	"bytes"
	"io"
	"testing"
)

type fakeUART struct {
	in  []byte
	out bytes.Buffer
}

func (u *fakeUART) Tx(c byte) { u.out.WriteByte(c) }

func (u *fakeUART) Rx() (byte, bool) {
	if len(u.in) == 0 {
		return 0, false
	}
	c := u.in[0]
	u.in = u.in[1:]
	return c, true
}

// Input up to EOT reads as is, then end of file; output goes out byte
// for byte.
func TestConsole(t *testing.T) {
	u := &fakeUART{in: []byte("info\nexit 0\n\x04ignored")}
	c := &Console{UART: u}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "info\nexit 0\n" {
		t.Errorf("ReadAll = %q, %v", got, err)
	}
	if n, err := c.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Errorf("Read after EOT = %d, %v; want 0, EOF", n, err)
	}
	if n, err := c.Write([]byte("sum: ab\n")); n != 8 || err != nil || u.out.String() != "sum: ab\n" {
		t.Errorf("Write = %d, %v; UART got %q", n, err, u.out.String())
	}
}

// Read waits (sleeping) until input comes.
func TestConsoleWaits(t *testing.T) {
	u := &fakeUART{}
	c := &Console{UART: &lateUART{fakeUART: u, polls: 3}}
	b := make([]byte, 8)
	n, err := c.Read(b)
	if n != 1 || err != nil || b[0] != 'x' {
		t.Errorf("Read = %d %q, %v; want the late byte", n, b[:n], err)
	}
}

// lateUART has a byte only after some empty polls.
type lateUART struct {
	*fakeUART
	polls int
}

func (u *lateUART) Rx() (byte, bool) {
	if u.polls > 0 {
		u.polls--
		if u.polls == 0 {
			u.in = []byte("x")
		}
		return 0, false
	}
	return u.fakeUART.Rx()
}
