package harness

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// The harness types at the guest's console as a person would: one line,
// then it waits for that command's result line before the next. A serial
// console does not take a whole script at once: the i.MX UART (and QEMU
// 10's model of it) has a 32-byte receive FIFO, and bytes that arrive
// while the guest is busy with the previous command and the FIFO is full
// are lost, so a pasted script loses the middle of its lines. One short
// line at a time always fits.
//
// A command's result is its first line that starts, at column 0, with
// the command's name (its first word) and a colon, and is not a progress
// line (`NAME: progress ...`): the shell prints no prompt. A blank line or
// a comment (#) expects no result. The wait is bounded: every guest line
// that arrives restarts it, and after ResultWait without one the harness
// sends the next line anyway (and says so). It never drops a line and
// never gives up on the guest for it: only the boot's timeout does.

// DefaultResultWait is how long the harness waits for a command's result
// while the guest prints nothing, when Options.ResultWait is zero.
// swaptest prints progress every 64 MiB, at least every 30 s on the
// slowest target (the i.MX6's emulated SD bus on QEMU 10).
const DefaultResultWait = 90 * time.Second

// A line longer than the FIFO can still overflow it when the guest,
// idle, polls its UART less often than QEMU delivers bytes (at once: QEMU
// 10's i.MX UART has no baud-rate pacing, and a guest on a loaded host
// sleeps past its 1 ms poll). So the Console types a line in pieces of
// ChunkSize bytes, ChunkPause apart: a line of up to ChunkSize bytes (every
// command the tests send) goes in one write, as before.
const (
	ChunkSize  = 16
	ChunkPause = 20 * time.Millisecond
)

// A Console sends guest commands one at a time (see above). Line is fed
// every guest line as it arrives; Send writes the commands.
type Console struct {
	mu      sync.Mutex
	name    string        // the command whose result is awaited; "" none
	result  chan struct{} // gets a value when it arrives
	traffic chan struct{} // gets a value for any guest line
}

// NewConsole returns a Console with nothing sent yet.
func NewConsole() *Console {
	return &Console{result: make(chan struct{}, 1), traffic: make(chan struct{}, 1)}
}

// CommandName returns the name of the command on line: its first word,
// or "" for a blank line or a comment, which expect no result.
func CommandName(line string) string {
	f := strings.Fields(line)
	if len(f) == 0 || strings.HasPrefix(f[0], "#") {
		return ""
	}
	return f[0]
}

// IsResult reports whether guest line is the result of command name: it
// starts with "NAME:" and is not a "NAME: progress" line.
func IsResult(name, line string) bool {
	rest, ok := strings.CutPrefix(line, name+":")
	return ok && !strings.HasPrefix(strings.TrimLeft(rest, " "), "progress")
}

// Line takes one guest line (without its terminator).
func (c *Console) Line(line string) {
	c.mu.Lock()
	if c.name != "" && IsResult(c.name, line) {
		c.name = ""
		notify(c.result)
	}
	c.mu.Unlock()
	notify(c.traffic)
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Send writes the lines of in to the guest (w), each followed by '\n',
// one at a time: after each command it waits for its result, up to wait
// (zero is DefaultResultWait) since the last guest line. It stops early
// only when done is closed (the guest is gone) or w fails; log, when not
// nil, hears about waits that ran out. It returns after the last line's
// wait, without sending end of input.
func (c *Console) Send(w io.Writer, in io.Reader, wait time.Duration, done <-chan struct{}, log io.Writer) error {
	if wait <= 0 {
		wait = DefaultResultWait
	}
	r := bufio.NewReader(in)
	for {
		line, rerr := r.ReadString('\n')
		if line != "" {
			text := strings.TrimRight(line, "\r\n")
			name := CommandName(text)
			c.mu.Lock()
			c.name = name
			select { // a result that came late for the previous command
			case <-c.result:
			default:
			}
			c.mu.Unlock()
			if err := typeLine(w, text+"\n", done); err != nil {
				return err
			}
			if name != "" && !c.await(name, wait, done, log) {
				return nil
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// await waits for command name's result; false when done is closed.
func (c *Console) await(name string, wait time.Duration, done <-chan struct{}, log io.Writer) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-c.result:
			return true
		case <-c.traffic:
			timer.Reset(wait)
		case <-timer.C:
			c.mu.Lock()
			c.name = ""
			c.mu.Unlock()
			if log != nil {
				fmt.Fprintf(log, "qemu/run: no result line from %s after %v of silence: sending the next line\n", name, wait)
			}
			return true
		case <-done:
			return false
		}
	}
}

// typeLine writes line in pieces of ChunkSize bytes, ChunkPause apart.
func typeLine(w io.Writer, line string, done <-chan struct{}) error {
	for len(line) > 0 {
		n := min(len(line), ChunkSize)
		if _, err := io.WriteString(w, line[:n]); err != nil {
			return err
		}
		line = line[n:]
		if len(line) > 0 {
			select {
			case <-time.After(ChunkPause):
			case <-done:
				return nil
			}
		}
	}
	return nil
}
