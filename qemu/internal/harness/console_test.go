package harness

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeUART is a guest shell behind a receive FIFO of fifoSize bytes, as
// on the i.MX6's UART in QEMU 10: bytes arrive at once, queue in the FIFO,
// and bytes that find it full are lost. The guest drains the FIFO every
// fakePoll while idle (board/serial sleeps between polls); while it runs a
// command it reads nothing. When a command finishes the guest prints its
// lines, then goes back to polling.
type fakeUART struct {
	t       *testing.T
	mu      sync.Mutex
	busy    bool
	fifo    []byte
	line    []byte
	got     []string // the lines the guest read
	dropped int      // bytes lost
	early   int      // bytes that arrived while the guest was busy
	// maxQueued is the most bytes the FIFO held.
	maxQueued int
	print     func(string)
	done      chan struct{} // closed at EOT
}

const (
	fifoSize = 32
	fakePoll = 2 * time.Millisecond
)

func newFakeUART(t *testing.T, print func(string)) *fakeUART {
	u := &fakeUART{t: t, print: print, done: make(chan struct{})}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(fakePoll)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				u.mu.Lock()
				u.drain()
				u.mu.Unlock()
			case <-stop:
				return
			}
		}
	}()
	return u
}

// drain is the idle guest reading the FIFO; u.mu is held.
func (u *fakeUART) drain() {
	for len(u.fifo) > 0 && !u.busy {
		b := u.fifo[0]
		u.fifo = u.fifo[1:]
		u.take(b)
	}
}

func (u *fakeUART) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, b := range p {
		if u.busy {
			u.early++
		}
		if len(u.fifo) < fifoSize {
			u.fifo = append(u.fifo, b)
			u.maxQueued = max(u.maxQueued, len(u.fifo))
		} else {
			u.dropped++
		}
	}
	return len(p), nil
}

// take is the shell reading byte b; u.mu is held.
func (u *fakeUART) take(b byte) {
	switch b {
	case EOT:
		close(u.done)
	case '\n':
		cmd := string(u.line)
		u.line = nil
		u.got = append(u.got, cmd)
		u.busy = true
		go u.run(cmd)
	default:
		u.line = append(u.line, b)
	}
}

// run is the shell running cmd: the commands of fakeScript take a while
// and print progress before their result; mute prints nothing.
func (u *fakeUART) run(cmd string) {
	name := CommandName(cmd)
	var lines []string
	switch name {
	case "":
	case "mute":
	case "swaptest":
		time.Sleep(5 * time.Millisecond)
		u.print("swaptest: progress phase=write done_mib=64")
		time.Sleep(20 * time.Millisecond)
		u.print("swaptest: progress phase=read done_mib=64")
		time.Sleep(20 * time.Millisecond)
		lines = []string{"swaptest: PASS size=134217728"}
	case "info":
		time.Sleep(5 * time.Millisecond)
		lines = []string{"info: disk=0", "info: disk=1"}
	case "exit", "fill", "sum", "selftest", "swapstat", "use":
		time.Sleep(10 * time.Millisecond)
		lines = []string{name + ": ok"}
	default:
		lines = []string{name + ": error: unknown command (try help)"}
	}
	for _, l := range lines {
		u.print(l)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.busy = false
}

var fakeScript = []string{
	"info",
	"selftest",
	"swaptest 128M",
	"# a comment, no result",
	"",
	"use 1",
	"fill 4194296 8 171",
	"fill 0 1 7 # a line longer than the FIFO's 32 bytes",
	"sum 4194296 8",
	"swapstat",
	"exit 0",
}

// TestConsoleOneLineAtATime: pasting the whole script at once, as the
// harness used to, loses bytes in the 32-byte FIFO and the guest runs
// garbage and never sees the exit; the Console sends each command after
// its result, so the guest reads every line as sent, and the FIFO never
// holds more than the one line that follows a result line.
func TestConsoleOneLineAtATime(t *testing.T) {
	script := strings.Join(fakeScript, "\n") + "\n"

	t.Run("all-at-once", func(t *testing.T) {
		u := newFakeUART(t, func(string) {})
		io.Copy(u, strings.NewReader(script)) // the old harness's io.Copy
		u.Write([]byte{EOT})
		time.Sleep(300 * time.Millisecond)
		u.mu.Lock()
		defer u.mu.Unlock()
		if slices.Equal(u.got, fakeScript) || u.dropped == 0 {
			t.Fatalf("pasting the script lost nothing (got %q): the fake does not model the FIFO", u.got)
		}
		t.Logf("pasted at once: %d bytes lost, the guest read %q", u.dropped, u.got)
	})

	t.Run("console", func(t *testing.T) {
		c := NewConsole()
		var mu sync.Mutex
		var out []string
		u := newFakeUART(t, func(l string) {
			mu.Lock()
			out = append(out, l)
			mu.Unlock()
			c.Line(l)
		})
		var log strings.Builder
		if err := c.Send(u, strings.NewReader(script), time.Minute, nil, &log); err != nil {
			t.Fatal(err)
		}
		u.Write([]byte{EOT})
		<-u.done
		u.mu.Lock()
		defer u.mu.Unlock()
		if !slices.Equal(u.got, fakeScript) || u.dropped != 0 || u.maxQueued >= fifoSize {
			t.Errorf("the guest read %q (%d bytes lost, up to %d queued in the FIFO), want %q", u.got, u.dropped, u.maxQueued, fakeScript)
		}
		t.Logf("%d bytes reached the guest while it was busy (after a result line it had not finished with, or after a comment), at most %d queued at once", u.early, u.maxQueued)
		if log.Len() != 0 {
			t.Errorf("waits ran out: %s", log.String())
		}
		mu.Lock()
		t.Logf("guest printed %q", out)
		mu.Unlock()
	})
}

// TestConsoleBoundedWait: a command with no result line holds the next
// one back only for the wait, then it is sent anyway, and said so; a
// trailing line without a newline is sent too.
func TestConsoleBoundedWait(t *testing.T) {
	c := NewConsole()
	u := newFakeUART(t, c.Line)
	var log strings.Builder
	start := time.Now()
	if err := c.Send(u, strings.NewReader("mute\nsum 0 1\nexit 0"), 100*time.Millisecond, nil, &log); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	u.mu.Lock()
	got := slices.Clone(u.got)
	u.mu.Unlock()
	if want := []string{"mute", "sum 0 1", "exit 0"}; !slices.Equal(got, want) {
		t.Errorf("the guest read %q, want %q", got, want)
	}
	if took < 100*time.Millisecond || took > 5*time.Second {
		t.Errorf("Send took %v, want the 100ms wait for mute and no more than a few seconds", took)
	}
	if !strings.Contains(log.String(), "no result line from mute") {
		t.Errorf("log %q does not say that mute's wait ran out", log.String())
	}
}

// TestConsoleGuestGone: Send stops waiting when the guest goes away.
func TestConsoleGuestGone(t *testing.T) {
	c := NewConsole()
	done := make(chan struct{})
	time.AfterFunc(50*time.Millisecond, func() { close(done) })
	var sent strings.Builder
	if err := c.Send(&sent, strings.NewReader("exit 0\ninfo\n"), time.Hour, done, nil); err != nil {
		t.Fatal(err)
	}
	if sent.String() != "exit 0\n" {
		t.Errorf("sent %q to a guest that powered off after exit, want only the exit", sent.String())
	}
}

func TestIsResult(t *testing.T) {
	for _, c := range []struct {
		name, line string
		want       bool
	}{
		{"swaptest", "swaptest: PASS size=1", true},
		{"swaptest", "swaptest: progress phase=write", false},
		{"swaptest", "swaptest: FAIL x", true},
		{"info", "info: disk=0 transport=mmio", true},
		{"fo", "fo: error: unknown command (try help)", true},
		{"sum", "summary: x", false},
		{"sum", " sum: x", false}, // results start at column 0
		{"use", "tamaswap: use", false},
	} {
		if got := IsResult(c.name, c.line); got != c.want {
			t.Errorf("IsResult(%q, %q) = %v, want %v", c.name, c.line, got, c.want)
		}
	}
	for line, want := range map[string]string{"swaptest 1G --encrypt": "swaptest", "  info ": "info", "": "", "# x": "", "#x y": ""} {
		if got := CommandName(line); got != want {
			t.Errorf("CommandName(%q) = %q, want %q", line, got, want)
		}
	}
}

func ExampleIsResult() {
	fmt.Println(IsResult("swaptest", "swaptest: progress phase=read done_mib=64"), IsResult("swaptest", "swaptest: PASS size=67108864"))
	// Output: false true
}

// TestConsoleLongLine: even to an idle guest, a line longer than the FIFO
// written at once loses its end (QEMU delivers it faster than the guest
// polls); typed in ChunkSize pieces it arrives whole.
func TestConsoleLongLine(t *testing.T) {
	const line = "fill 0 1 7 # a line longer than the FIFO's 32 bytes"
	for _, typed := range []bool{false, true} {
		u := newFakeUART(t, func(string) {})
		if typed {
			typeLine(u, line+"\n", nil)
		} else {
			io.WriteString(u, line+"\n")
		}
		time.Sleep(50 * time.Millisecond)
		u.mu.Lock()
		got, lost := slices.Clone(u.got), u.dropped
		u.mu.Unlock()
		if intact := len(got) == 1 && got[0] == line && lost == 0; intact != typed {
			t.Errorf("typed %v: the guest read %q, %d bytes lost", typed, got, lost)
		}
	}
}
