// Package shell is the in-image program's serial shell (DESIGN.md, "The
// in-image shell"): one command a line on Config.In, result lines on
// Config.Out. Boards find the disks, call Run and power off with the
// status it returns; everything else is here, the same under TamaGo and
// in the hosted guest.
//
// Every result line starts with the command's name and a colon; a failure
// reads `NAME: error: TEXT` with TEXT the Go error's text on one line.
// Each line is written whole, with one Write call, because boards' serial
// writers are unbuffered and a harness reads line by line.
//
// Nothing touches a disk before a command needs it: the banner prints
// what Info reports, and each disk's swap manager is made by the first
// command that uses it.
package shell

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

// Disk is one disk the board found.
type Disk struct {
	Dev       block.Device
	Transport string // "mmio" | "pci" | "usdhc"
	// Controller names the host controller the disk hangs off when
	// the transport has several (e.g. "usdhc1"); printed as
	// controller= after transport= when set.
	Controller string
	Version    string   // "modern" | "legacy"; for SD/MMC the card type
	Features   []string // printed comma-separated after features=
	// Queues and Ring describe a virtio disk's virtqueues (Ring: "split"
	// or "packed"), printed as queues=N ring=R after features= when
	// Ring is set.
	Queues int
	Ring   string
	// IRQ switches the disk between completion by interrupt and by
	// polling; nil where the board wires no interrupt to it (info then
	// says irq=poll and `irq on` is refused).
	IRQ Interrupter
}

// Interrupter is a disk's completion interrupt, as a board wires it.
type Interrupter interface {
	// Line is the wired interrupt line or the MSI-X vector, as info's
	// irq= prints it.
	Line() int
	// Interrupts reports whether requests complete by interrupt now.
	Interrupts() bool
	// UseInterrupts switches between interrupts (on) and polling, also
	// with requests in flight.
	UseInterrupts(on bool) error
}

// Config is what a board hands the shell.
type Config struct {
	Runtime  string    // "tamago" | "hosted"
	Platform string    // e.g. "microvm", "q35"
	In       io.Reader // one command a line
	Out      io.Writer // result lines (each written whole, line by line, unbuffered)
	Disks    []Disk
	Commands []Command // the board's own commands, after the shell's
	// DMAFree returns the free bytes of the board's DMA region, for
	// mem's dma_free=; nil where DMA memory is not a region of its own.
	DMAFree func() int64
}

// Command is a board's own shell command (the hosted guest's fio). Its
// result lines, too, start with its name and a colon.
type Command struct {
	Name, Usage, Help string
	// Run runs the command with its arguments on the current disk (nil
	// without disks). printf writes one whole line; a failure line reads
	// `NAME: error: TEXT`.
	Run func(d *Disk, args []string, printf func(format string, args ...any))
}

// maxLine bounds an input line; a longer one is refused, not buffered.
const maxLine = 4096

// disk is a Disk with the shell's state for it.
type disk struct {
	Disk
	n         int
	swaps     [2]*swapfs.FS // plain and encrypted managers, nil until a command needs one
	active    int           // index in swaps of the manager last used; -1: none yet
	partState               // partitions (part.go)
}

type shell struct {
	cfg   Config
	out   io.Writer
	disks []*disk
	cur   int    // index into disks
	part  *disk  // the partition of disks[cur] selected by use NpK, or nil
	line  []byte // output line being built
	start time.Time
	// outMu serializes lines to out: a background job (background.go)
	// prints from its own goroutine. Nil in a shell made without Run.
	outMu *sync.Mutex
	job   *job // the background job, nil when none runs
	jobs  int  // jobs started
}

// Run prints the banner, then reads and runs commands until `exit N`
// (returns N) or the end of the input (returns 0). A read error on In
// other than io.EOF is reported and returns 1.
func Run(cfg Config) int {
	s := &shell{cfg: cfg, out: cfg.Out, start: time.Now(), outMu: new(sync.Mutex)}
	if s.out == nil {
		s.out = io.Discard
	}
	for i, d := range cfg.Disks {
		s.disks = append(s.disks, &disk{Disk: d, n: i, active: -1})
	}
	s.banner()
	if cfg.In == nil {
		return 0
	}
	r := bufio.NewReaderSize(cfg.In, maxLine)
	for {
		text, err := readLine(r)
		if errors.Is(err, errLineTooLong) {
			s.printf("shell: error: %v", err)
			continue
		}
		if text != "" || err == nil {
			if code, exit := s.exec(text); exit {
				s.waitJob()
				return code
			}
		}
		if err == io.EOF {
			s.waitJob()
			return 0
		}
		if err != nil {
			s.printf("shell: error: reading input: %s", oneLine(err.Error()))
			return 1
		}
	}
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes ignored", maxLine)

// readLine returns the next line without its terminator. Lines end at
// '\n' or '\r' (a terminal on a serial port sends '\r' for Enter), so
// "\r\n" yields an empty line in between, which exec ignores.
func readLine(r *bufio.Reader) (string, error) {
	var b strings.Builder
	long := false
	for {
		c, err := r.ReadByte()
		if err != nil {
			if long {
				return "", errLineTooLong
			}
			return b.String(), err
		}
		if c == '\n' || c == '\r' {
			if long {
				return "", errLineTooLong
			}
			return b.String(), nil
		}
		if b.Len() >= maxLine {
			long = true
			continue
		}
		b.WriteByte(c)
	}
}

func (s *shell) banner() {
	s.printf("tamaswap: runtime=%s platform=%s go=%s arch=%s disks=%d",
		orUnknown(s.cfg.Runtime), orUnknown(s.cfg.Platform), runtime.Version(), runtime.GOARCH, len(s.disks))
	for _, d := range s.disks {
		s.info(d)
	}
}

// printf writes one whole line.
func (s *shell) printf(format string, args ...any) {
	if s.outMu != nil {
		s.outMu.Lock()
		defer s.outMu.Unlock()
	}
	s.line = fmt.Appendf(s.line[:0], format, args...)
	s.line = append(s.line, '\n')
	s.out.Write(s.line) // nowhere to report a console write error
}

// fail prints `name: error: TEXT`.
func (s *shell) fail(name string, err error) {
	s.printf("%s: error: %s", name, oneLine(err.Error()))
}

// oneLine keeps a multi-line error text (errors.Join, the conformance
// suite's list) on its result line.
func oneLine(t string) string {
	t = strings.ReplaceAll(t, "\r", "")
	t = strings.ReplaceAll(t, "\n\t", "; ")
	return strings.ReplaceAll(t, "\n", "; ")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// command is one shell command. run returns (status, true) for exit.
type command struct {
	name  string
	usage string // arguments, for help and usage errors
	help  string
	run   func(s *shell, args []string) (int, bool)
}

var commands []command

func init() {
	// Assigned here, not in the declaration, because help refers to it.
	commands = []command{
		{"info", "", "one line per disk", runInfo},
		{"use", "N|NpK", "later commands act on disk N (disks count from 0), or on its partition K (from 1, as info's part: lines number them; MBR logical ones from 5)", runUse},
		{"fill", "LBA COUNT BYTE [--jobs N]", "write COUNT sectors of the byte value BYTE (0-255) from sector LBA; --jobs N: from N goroutines at once, each a contiguous share", runFill},
		{"sum", "LBA COUNT", "SHA-256 of COUNT sectors from sector LBA, in hex", runSum},
		{"selftest", "", "block conformance checks on the current disk; restores every sector it writes", runSelftest},
		{"swaptest", "SIZE [CHUNK] [--encrypt] [--weak-entropy] [--force]", "stream SIZE bytes of a pattern made of each byte's offset and a per-run seed (see the README) through a swap file in CHUNK appends (default 64K), read back at random offsets, verify, free; on a whole disk it uses the disk's swap partition, or the disk whole if it holds no table and no known signature, and refuses otherwise; --force uses the selected disk or partition whole, whatever it holds (a disk's swap space, once found, stays for the boot); --encrypt refuses an entropy source that is not a true RNG unless --weak-entropy (tests under emulation only)", runSwaptest},
		{"swapstat", "", "total and free blocks of the current disk's swap manager", runSwapstat},
		{"hwcheck", "", "first run on a board: DMA and cache checks inside the current disk's swap space, which must hold nothing (it writes 16 MiB after its first MiB, then zeroes them)", runHwcheck},
		{"bench", "[--size SIZE] [--ms MS] [--rounds N] [--weak-entropy] [WORKLOAD...]", "storage benchmarks on the current disk (default: all); --rounds N runs the list N times, round=R on each line; OVERWRITES the disk: scratch disks only; --weak-entropy as swaptest's", runBench},
		{"mem", "", "Go heap and DMA memory figures, in bytes", runMem},
		{"irq", "on|off", "the current disk completes requests by interrupt (on) or by polling (off), also with requests in flight; refused where the board wires no interrupt", runIRQ},
		{"timeout", "MS", "a request on the current disk may wait MS milliseconds for the device before the driver declares it broken (0: no limit)", runTimeout},
		{"hybrid", "US", "requests of the current disk waiting by interrupt poll for their completion up to US microseconds before they sleep (0: sleep at once); refused where the driver has no hybrid poll", runHybrid},
		{"sleep", "MS", "wait MS milliseconds", runSleep},
		{"wait", "", "wait for the background job (a bench, fill or sum line ending in &)", runWait},
		{"clock", "", "nanoseconds of guest time since the shell started, from the monotonic clock", runClock},
		{"exit", "[N]", "power off with status N (default 0)", runExit},
		{"help", "", "this list", runHelp},
	}
}

// exec runs one input line.
func (s *shell) exec(text string) (int, bool) {
	args := strings.Fields(text)
	if len(args) == 0 || strings.HasPrefix(args[0], "#") {
		return 0, false
	}
	if s.gate(args) {
		return 0, false
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(s, args[1:])
		}
	}
	for _, c := range s.cfg.Commands {
		if c.Name == args[0] {
			var d *Disk
			if len(s.disks) > 0 {
				d = &s.selected().Disk
			}
			c.Run(d, args[1:], s.printf)
			return 0, false
		}
	}
	s.printf("%s: error: unknown command (try help)", args[0])
	return 0, false
}

// usage prints the usage error of command name.
func (s *shell) usage(name string, why error) {
	for _, c := range commands {
		if c.name == name {
			u := name
			if c.usage != "" {
				u += " " + c.usage
			}
			if why != nil {
				s.printf("%s: error: %s (usage: %s)", name, oneLine(why.Error()), u)
			} else {
				s.printf("%s: error: usage: %s", name, u)
			}
			return
		}
	}
}

// current returns the current disk, or prints an error for name.
func (s *shell) current(name string) (*disk, bool) {
	if len(s.disks) == 0 {
		s.printf("%s: error: no disks", name)
		return nil, false
	}
	d := s.selected()
	if d.Dev == nil {
		s.printf("%s: error: disk %d has no device", name, d.n)
		return nil, false
	}
	return d, true
}

func runHelp(s *shell, args []string) (int, bool) {
	if len(args) != 0 {
		s.usage("help", nil)
		return 0, false
	}
	for _, c := range commands {
		u := c.name
		if c.usage != "" {
			u += " " + c.usage
		}
		s.printf("help: %s - %s", u, c.help)
	}
	for _, c := range s.cfg.Commands {
		s.printf("help: %s - %s", strings.TrimSpace(c.Name+" "+c.Usage), c.Help)
	}
	s.printf("help: numbers are decimal; SIZE, CHUNK take K, M, G (KiB, MiB, GiB)")
	s.printf("help: a disk's swap space is managed plain or encrypted (swaptest --encrypt), by the first of swaptest, swapstat, bench to need it;")
	s.printf("help: a command that wants the other mode gets it only while every block is free; swapstat shows the mode used last")
	return 0, false
}
