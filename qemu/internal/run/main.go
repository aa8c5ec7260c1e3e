// Command run is qemu/run's body: qemu/run builds it into build/ and runs
// it with its arguments. See DESIGN.md, "qemu/run".
//
//	qemu/run [--runtime tamago|hosted] [--arch amd64|arm64|arm]
//	         [--machine microvm|virt|pci|usbarmory|mx6ullevk] [--legacy] [--packed]
//	         [--mem SIZE] [--cpus N] [--queues N] [--disk FILE | --drive QEMU-DRIVE-OPTS]...
//	         [--append KERNEL-CMDLINE-WORD]...
//	         [--qemu system|10] [--result-wait SECONDS] [--timeout SECONDS]
//	         [-- EXTRA-QEMU-ARGS]
//
// Guest commands come on standard input, one a line, each sent once the
// previous one's result line arrived (harness.Console); guest serial
// lines go to standard output as they arrive. --qemu 10 boots QEMU 10
// from cache/qemu-10, fetched there (qemu/qemu10) when missing; the
// default is the system's QEMU. Standard error says which QEMU starts:
// `qemu/run: qemu X.Y.Z (PATH)`. The exit status is the guest's
// (`exit N`), 124 on a timeout and 125 when the guest or QEMU failed
// without a status; the reason goes to standard error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("qemu/run", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: qemu/run [--runtime tamago|hosted] [--arch "+strings.Join(harness.Arches(), "|")+"] [--machine MACHINE] [--legacy] [--packed] [--mem SIZE] [--cpus N] [--queues N] [--disk FILE | --drive QEMU-DRIVE-OPTS]... [--append WORD]... [--qemu system|10] [--result-wait SECONDS] [--timeout SECONDS] [-- EXTRA-QEMU-ARGS]")
		fs.PrintDefaults()
	}
	opts := harness.Options{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	fs.StringVar(&opts.Runtime, "runtime", "", "tamago or hosted (default: tamago when a TamaGo compiler is found, else hosted)")
	fs.StringVar(&opts.Arch, "arch", harness.DefaultArch, "guest architecture: "+strings.Join(harness.Arches(), ", "))
	fs.StringVar(&opts.Machine, "machine", "", "the arch's machine (default: its first): amd64 microvm (virtio-mmio) or pci (virtio-pci); arm64 virt (virtio-mmio) or pci (virtio-pci); arm (TamaGo only) usbarmory or mx6ullevk (SD cards on uSDHC1, uSDHC2)")
	fs.BoolVar(&opts.Legacy, "legacy", false, "legacy virtio devices (mmio version 1, transitional pci) instead of modern")
	fs.BoolVar(&opts.Packed, "packed", false, "the disks offer packed virtqueues (QEMU packed=on; modern devices only)")
	mem := fs.String("mem", "", "guest RAM, e.g. 128M or 1G (default: the runtime's)")
	fs.IntVar(&opts.Queues, "queues", 0, "request queues each virtio disk offers (QEMU num-queues=`N`; VIRTIO_BLK_F_MQ when above 1); 0 leaves QEMU's default")
	fs.IntVar(&opts.CPUs, "cpus", 1, "guest CPUs (QEMU -smp `N`, as cores of one socket); TamaGo starts the secondary CPUs on amd64 microvm and pci only")
	fs.Func("disk", "attach a raw image `FILE` as a disk: virtio-blk, or on arm the SD card of the next uSDHC (repeatable)", func(s string) error {
		opts.Drives = append(opts.Drives, harness.DiskDrive(s))
		return nil
	})
	fs.Func("drive", "attach a disk given as QEMU -drive `OPTS` (repeatable; if= and id= are added)", func(s string) error {
		opts.Drives = append(opts.Drives, s)
		return nil
	})
	fs.Func("append", "add `WORD` to the guest kernel's command line (hosted runtime; repeatable), e.g. tamaswap.path=kernel", func(s string) error {
		if strings.ContainsAny(s, "\n") {
			return fmt.Errorf("newline in %q", s)
		}
		opts.Append = append(opts.Append, strings.Fields(s)...)
		return nil
	})
	fs.StringVar(&opts.QEMU, "qemu", harness.QEMUSystem, "which QEMU: system (the installed one) or 10 (Debian bookworm-backports' QEMU 10, unpacked into cache/qemu-10, fetched when missing)")
	resultWait := fs.Int("result-wait", int(harness.DefaultResultWait/time.Second), "send the next command after `SECONDS` without a guest line, even if the previous one printed no result")
	timeout := fs.Int("timeout", int(harness.DefaultTimeout/time.Second), "stop the guest after `SECONDS`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	opts.Extra = fs.Args()
	if *mem != "" {
		m, err := harness.ParseSize(*mem)
		if err != nil {
			fmt.Fprintln(os.Stderr, "qemu/run: --mem:", err)
			return 2
		}
		opts.Mem = m
	}
	if opts.Queues < 0 {
		fmt.Fprintln(os.Stderr, "qemu/run: --queues must not be negative")
		return 2
	}
	if opts.CPUs < 1 {
		fmt.Fprintln(os.Stderr, "qemu/run: --cpus must be at least 1")
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(os.Stderr, "qemu/run: --timeout must be positive")
		return 2
	}
	opts.Timeout = time.Duration(*timeout) * time.Second
	opts.ResultWait = time.Duration(*resultWait) * time.Second
	if opts.Runtime == "" {
		opts.Runtime = harness.DefaultRuntime()
		// An arch with no hosted runtime (arm) boots TamaGo or
		// nothing: say that its compiler is missing.
		if a, err := harness.LookupArch(opts.Arch); err == nil && a.Hosted == nil {
			opts.Runtime = "tamago"
		}
	}
	if err := sayQEMU(&opts); err != nil {
		fmt.Fprintln(os.Stderr, "qemu/run:", err)
		return 125
	}
	status, err := harness.Run(opts)
	switch {
	case errors.Is(err, harness.ErrTimeout):
		fmt.Fprintln(os.Stderr, "qemu/run:", err)
		return 124
	case err != nil:
		fmt.Fprintln(os.Stderr, "qemu/run:", strings.TrimSpace(err.Error()))
		return 125
	}
	return status
}

// sayQEMU fetches the QEMU that opts asks for when it is missing, and
// says on standard error which one starts: `qemu/run: qemu X.Y.Z (PATH)`.
func sayQEMU(opts *harness.Options) error {
	q, err := harness.FetchQEMU(opts.QEMU, os.Stderr)
	if err != nil {
		return err
	}
	a, err := harness.LookupArch(opts.Arch)
	if err != nil {
		return err
	}
	bin, err := q.Binary(a)
	if err != nil {
		return err
	}
	v, err := q.Version(a)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "qemu/run: qemu %s (%s)\n", v, bin)
	return nil
}
