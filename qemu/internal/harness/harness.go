// Package harness boots tamaswap's in-image program in QEMU: it is what
// qemu/run, make qemu and the boot tests under qemu/ run.
//
// A boot has two halves. A Runtime (one file each: hosted.go, tamago.go)
// builds what it boots and says how QEMU starts it: machine, memory,
// kernel, command line. The harness adds the rest, the same for every
// runtime: the serial console on QEMU's standard input and output, the
// exit-status device, the disks on the chosen transport, the caller's extra
// arguments; then it forwards guest lines as they arrive, sends the guest
// its commands once the shell is ready, one at a time as a person at the
// console would (see Console), and turns QEMU's exit into the guest's
// status. Options.QEMU picks the system's QEMU or QEMU 10 from cache/
// (see QEMU).
//
// # Arches
//
// --arch picks the guest architecture (amd64, the default, or arm64, ...):
// its QEMU, its machines and its exit-status mechanism. Each arch is one
// file of this package (see Arch); the rest is shared.
//
// # Exit status
//
// A guest that powers off with status N (0..126) makes QEMU exit with
// 2N+3, on every arch. On amd64 the mechanism is QEMU's isa-debug-exit
// device at port 0xf4 (-device isa-debug-exit,iobase=0xf4,iosize=0x04):
// the guest writes N+1 to the port, and QEMU exits with ((N+1)<<1)|1,
// that is 2N+3. On the Arm arches it is semihosting (SemihostingArgs):
// the guest's SYS_EXIT hands QEMU the code 2N+3 itself. The offset keeps
// QEMU's own failure status 1 (bad arguments, a missing file) apart from
// every guest status. QEMU exiting with 0 means the guest stopped without
// a status: a kernel panic (-no-reboot), a triple fault, or a power-off
// that bypassed the mechanism.
package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Exit status (see the package comment): amd64's exit device, and the
// largest status a guest can report.
const (
	DebugExitPort = 0xf4
	MaxStatus     = 126
)

// ExitCode is the code QEMU exits with when the guest reports status:
// what a semihosting guest passes to SYS_EXIT.
func ExitCode(status int) int { return 2*status + 3 }

// ReadyPrefix starts the shell's banner line: once the guest prints it,
// it is reading commands and the harness sends them.
const ReadyPrefix = "tamaswap: runtime="

// EOT is sent after the last command: the guest board turns it into end
// of input, and the shell ends as on `exit 0`.
const EOT = 0x04

// DefaultTimeout bounds a boot when Options.Timeout is zero.
const DefaultTimeout = 15 * time.Minute

// Errors of a boot that did not end with a guest status.
var (
	ErrTimeout  = errors.New("timed out")
	ErrNoStatus = errors.New("guest stopped without an exit status (kernel panic, crash or plain power-off)")
	ErrQEMU     = errors.New("qemu failed")
)

// Options are qemu/run's options.
type Options struct {
	Runtime string        // a registered runtime; "" is DefaultRuntime()
	Arch    string        // a registered arch; "" is DefaultArch
	Machine string        // one of the arch's machines; "" is its first
	Legacy  bool          // legacy virtio interface instead of modern
	Packed  bool          // the disks offer packed virtqueues (packed=on; modern only)
	Queues  int           // request queues each disk offers (num-queues=N); 0 is QEMU's default
	Mem     int64         // guest RAM in bytes; 0 is the runtime's default
	CPUs    int           // guest CPUs (-smp); 0 and 1 are one CPU, no -smp
	Drives  []string      // one disk each, as QEMU -drive options (no if=, id=)
	Timeout time.Duration // 0 is DefaultTimeout
	Extra   []string      // appended to QEMU's arguments
	Append  []string      // words added to the guest kernel's command line (hosted runtime only)
	QEMU    string        // which QEMU: QEMUSystem ("" too) or QEMU10 (see qemu.go)
	// ResultWait bounds the wait for each command's result line while
	// the guest is silent (see Console); 0 is DefaultResultWait.
	ResultWait time.Duration

	Stdin  io.Reader // guest commands, one a line, sent one at a time (Console); nil is none
	Stdout io.Writer // guest serial lines, each written whole as it arrives
	Stderr io.Writer // QEMU's own messages and the harness's
}

// DiskDrive returns the -drive options for a raw image file.
func DiskDrive(file string) string {
	return "file=" + strings.ReplaceAll(file, ",", ",,") + ",format=raw"
}

// Runtime builds what it boots. Each runtime is one file of this package
// that registers itself from init:
//
//	func init() { Register("name", func() Runtime { return myRuntime{} }) }
//
// Build is called once per process (see BuildOnce), possibly by several
// processes at once (parallel tests, two qemu/run): it takes a lock under
// env.Root/build (see Lock) and rebuilds only what is missing or stale.
// When the runtime cannot work on this machine (no compiler, no kernel
// source) Build returns an error that says what is missing and how to get
// it.
type Runtime interface {
	Build(env *Env) (Image, error)
}

// Image is a built runtime, ready to boot any number of times.
type Image interface {
	// QEMUArgs returns the arguments that pick the machine for
	// opts.Machine (-M ...), the memory (-m, from opts.Mem or the
	// runtime's default) and what to boot (-kernel, -initrd, -append,
	// -bios...). The harness adds everything else: -nodefaults,
	// -no-reboot, -display none, the serial console, the exit device,
	// the disks (virtio-blk-device on microvm, virtio-blk-pci on pci),
	// the modern/legacy switches and opts.Extra. opts.Arch and
	// opts.Machine are set, to the image's arch and one of its machines.
	QEMUArgs(opts *Options) ([]string, error)
}

// ArchImage is an Image built for one arch: Boot boots it on that arch
// when Options.Arch is empty, and refuses another.
type ArchImage interface {
	Image
	Arch() string
}

// Env is what a runtime's Build gets.
type Env struct {
	Arch *Arch     // the arch to build for
	Root string    // the module's root folder
	Log  io.Writer // progress and tool output (standard error)
}

var (
	runtimesMu sync.Mutex
	runtimes   = map[string]func() Runtime{}
)

// Register makes a runtime available by name.
func Register(name string, newRuntime func() Runtime) {
	runtimesMu.Lock()
	defer runtimesMu.Unlock()
	runtimes[name] = newRuntime
}

// Runtimes returns the registered runtimes' names.
func Runtimes() []string {
	runtimesMu.Lock()
	defer runtimesMu.Unlock()
	return slices.Sorted(maps.Keys(runtimes))
}

// DefaultRuntime is "tamago" when a TamaGo compiler is found (see
// FindTamaGo), else "hosted".
func DefaultRuntime() string {
	if _, err := FindTamaGo(); err == nil {
		return "tamago"
	}
	return "hosted"
}

// FindTamaGo returns the TamaGo compiler's go command, looked for as
// DESIGN.md says: $TAMAGO, /opt/tamago-go/bin/go, then `go tool tamago`
// (which fetches it, and so needs the network). The result is the command
// line to run in place of `go`.
func FindTamaGo() ([]string, error) {
	if t := os.Getenv("TAMAGO"); t != "" {
		if _, err := os.Stat(t); err != nil {
			return nil, fmt.Errorf("TAMAGO=%s: %w", t, err)
		}
		return []string{t}, nil
	}
	if _, err := os.Stat("/opt/tamago-go/bin/go"); err == nil {
		return []string{"/opt/tamago-go/bin/go"}, nil
	}
	if root, err := FindRoot(); err == nil {
		cmd := exec.Command("go", "tool", "-n", "tamago")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		if err := cmd.Run(); err == nil {
			return []string{"go", "tool", "tamago"}, nil
		}
	}
	return nil, errors.New("no TamaGo compiler: set TAMAGO to its go command, install it in /opt/tamago-go, or add the tamago tool to go.mod")
}

// FindRoot returns the module's root: the folder with go.mod above the
// working directory.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/tamaswap/tamaswap") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the tamaswap module")
		}
		dir = parent
	}
}

var (
	buildMu sync.Mutex
	builds  = map[string]*buildResult{}
)

type buildResult struct {
	once sync.Once
	img  Image
	err  error
}

// BuildOnce builds runtime name for DefaultArch once per process and
// returns its image.
func BuildOnce(name string, log io.Writer) (Image, error) {
	return BuildArch(name, DefaultArch, log)
}

// BuildArch builds runtime name for arch once per process and returns
// its image.
func BuildArch(name, arch string, log io.Writer) (Image, error) {
	a, err := LookupArch(arch)
	if err != nil {
		return nil, err
	}
	runtimesMu.Lock()
	newRuntime, ok := runtimes[name]
	runtimesMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown runtime %q (have %s)", name, strings.Join(Runtimes(), ", "))
	}
	key := name + "/" + a.Name
	buildMu.Lock()
	b, ok := builds[key]
	if !ok {
		b = new(buildResult)
		builds[key] = b
	}
	buildMu.Unlock()
	b.once.Do(func() {
		root, err := FindRoot()
		if err != nil {
			b.err = err
			return
		}
		b.img, b.err = newRuntime().Build(&Env{Arch: a, Root: root, Log: log})
	})
	return b.img, b.err
}

// Run builds opts.Runtime and boots it (qemu/run).
func Run(opts Options) (int, error) {
	if opts.Runtime == "" {
		opts.Runtime = DefaultRuntime()
	}
	log := opts.Stderr
	if log == nil {
		log = io.Discard
	}
	if len(opts.Append) > 0 && opts.Runtime != "hosted" {
		return 0, fmt.Errorf("%s runtime: no kernel command line to append %q to (hosted only)", opts.Runtime, strings.Join(opts.Append, " "))
	}
	if _, err := FetchQEMU(opts.QEMU, log); err != nil {
		return 0, err
	}
	img, err := BuildArch(opts.Runtime, opts.Arch, log)
	if err != nil {
		return 0, fmt.Errorf("%s runtime: %w", opts.Runtime, err)
	}
	return Boot(img, opts)
}

// Args returns QEMU's whole argument list for opts, and sets opts.Arch
// and opts.Machine to the ones it boots.
func Args(img Image, opts *Options) ([]string, error) {
	_, args, err := archArgs(img, opts)
	return args, err
}

func archArgs(img Image, opts *Options) (*Arch, []string, error) {
	if ai, ok := img.(ArchImage); ok {
		switch opts.Arch {
		case "":
			opts.Arch = ai.Arch()
		case ai.Arch():
		default:
			return nil, nil, fmt.Errorf("an image built for %s cannot boot on arch %s", ai.Arch(), opts.Arch)
		}
	}
	a, err := LookupArch(opts.Arch)
	if err != nil {
		return nil, nil, err
	}
	m, err := a.Machine(opts.Machine)
	if err != nil {
		return nil, nil, err
	}
	opts.Arch, opts.Machine = a.Name, m.Name
	args, err := img.QEMUArgs(opts)
	if err != nil {
		return nil, nil, err
	}
	args = append(args,
		"-nodefaults", "-no-reboot", "-display", "none",
		"-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console",
	)
	args = append(args, a.ExitArgs...)
	args = append(args, smpArgs(opts.CPUs)...)
	args = append(args, m.DiskArgs(opts)...)
	return a, append(args, opts.Extra...), nil
}

// Boot boots a built image: see the package comment. It returns the
// guest's exit status, or an error wrapping ErrTimeout, ErrNoStatus or
// ErrQEMU.
func Boot(img Image, opts Options) (int, error) {
	arch, args, err := archArgs(img, &opts)
	if err != nil {
		return 0, err
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	q, err := LookupQEMU(opts.QEMU)
	if err != nil {
		return 0, err
	}
	bin, err := q.Binary(arch)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(q.Args(), args...)...)
	cmd.Env = q.Env()
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%w: %v (is QEMU installed? the package is %s)", ErrQEMU, err, arch.QEMUPackage)
	}

	ready, gone := make(chan struct{}), make(chan struct{})
	console := NewConsole()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // guest serial lines → stdout
		defer wg.Done()
		defer close(gone)
		r := bufio.NewReaderSize(out, 64<<10)
		isReady := false
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				line = strings.TrimRight(line, "\r\n")
				io.WriteString(stdout, line+"\n")
				if !isReady && strings.HasPrefix(line, ReadyPrefix) {
					isReady = true
					close(ready)
				} else if isReady {
					console.Line(line)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { // commands → guest, once its shell reads them, one at a time
		defer in.Close()
		select {
		case <-ready:
		case <-ctx.Done():
			return
		}
		if opts.Stdin != nil {
			if err := console.Send(in, opts.Stdin, opts.ResultWait, gone, stderr); err != nil {
				return
			}
		}
		in.Write([]byte{EOT})
		<-ctx.Done() // keep QEMU's standard input open until the end
	}()

	// Read every line before Wait, which closes the pipe: QEMU's exit
	// ends the output with EOF.
	wg.Wait()
	err = cmd.Wait()
	if ctx.Err() == context.DeadlineExceeded {
		return 0, fmt.Errorf("%w after %v", ErrTimeout, timeout)
	}
	code := 0
	if err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() < 0 {
			return 0, fmt.Errorf("%w: %v", ErrQEMU, err)
		}
		code = exitErr.ExitCode()
	}
	return GuestStatus(code)
}

// GuestStatus turns QEMU's exit status into the guest's (see the package
// comment).
func GuestStatus(qemuStatus int) (int, error) {
	switch {
	case qemuStatus == 0:
		return 0, ErrNoStatus
	case qemuStatus&1 == 1 && qemuStatus >= 3 && qemuStatus <= 2*MaxStatus+3:
		return (qemuStatus - 3) / 2, nil
	}
	return 0, fmt.Errorf("%w: exit status %d", ErrQEMU, qemuStatus)
}

// ParseSize parses a memory size: a number with an optional K, M, G or T
// suffix (binary units); without one it is MiB, as for QEMU's -m.
func ParseSize(s string) (int64, error) {
	num, shift := s, 20
	if n := len(s); n > 0 {
		if i := strings.IndexByte("KMGT", s[n-1]&^0x20); i >= 0 {
			num, shift = s[:n-1], 10*(i+1)
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v > 1<<(62-shift) {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return v << shift, nil
}

// smpArgs gives QEMU n CPUs as cores of one socket: TamaGo counts the
// CPUs to start from CPUID's core count (package amd64's NumCPU: AMD
// leaf 0x80000008 ECX, Intel leaf 0xB), which does not count sockets.
// One CPU is QEMU's default and adds nothing.
func smpArgs(n int) []string {
	if n <= 1 {
		return nil
	}
	return []string{"-smp", fmt.Sprintf("%d,sockets=1,cores=%d,threads=1", n, n)}
}
