package harness

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// An Arch is one guest architecture of qemu/run --arch: its QEMU, its
// machines, how its guests report an exit status, and how each runtime
// builds and boots on it. Each architecture is one file of this package
// (amd64arch.go, arm64arch.go, ...) that registers itself from init:
//
//	func init() { RegisterArch(&Arch{Name: "arm64", ...}) }
//
// The harness itself only dispatches: Args takes the machine from the
// arch, Boot runs the arch's QEMU, and the runtimes take their target from
// Arch.TamaGo or Arch.Hosted.
type Arch struct {
	Name        string    // GOARCH-style name: amd64, arm64, arm
	QEMU        string    // the system emulator, e.g. qemu-system-aarch64
	QEMUPackage string    // the Debian package that has it (qemu/setup installs it)
	Machines    []Machine // --machine values; the first is the default

	// ExitArgs are the QEMU arguments of the arch's exit-status
	// mechanism (see the package comment): an exit device, or
	// semihosting.
	ExitArgs []string

	TamaGo *TamaGoTarget // nil: no TamaGo runtime on this arch
	Hosted *HostedTarget // nil: no hosted runtime on this arch
}

// A Machine is one --machine of an arch.
type Machine struct {
	Name string
	// DiskArgs returns the QEMU arguments that attach opts.Drives (and
	// pick their modern or legacy interface); VirtioMMIODisks and
	// VirtioPCIDisks are the virtio machines'.
	DiskArgs func(opts *Options) []string
}

// DefaultArch is the architecture of a boot whose Options.Arch is empty.
const DefaultArch = "amd64"

var (
	archesMu sync.Mutex
	arches   = map[string]*Arch{}
)

// RegisterArch makes an architecture available to --arch.
func RegisterArch(a *Arch) {
	archesMu.Lock()
	defer archesMu.Unlock()
	arches[a.Name] = a
}

// Arches returns the registered architectures' names.
func Arches() []string {
	archesMu.Lock()
	defer archesMu.Unlock()
	return slices.Sorted(maps.Keys(arches))
}

// LookupArch returns architecture name ("" is DefaultArch).
func LookupArch(name string) (*Arch, error) {
	if name == "" {
		name = DefaultArch
	}
	archesMu.Lock()
	a, ok := arches[name]
	archesMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown arch %q (have %s)", name, strings.Join(Arches(), ", "))
	}
	return a, nil
}

// Machine returns the arch's machine name ("" is its default).
func (a *Arch) Machine(name string) (*Machine, error) {
	if name == "" {
		return &a.Machines[0], nil
	}
	var names []string
	for i := range a.Machines {
		if a.Machines[i].Name == name {
			return &a.Machines[i], nil
		}
		names = append(names, a.Machines[i].Name)
	}
	return nil, fmt.Errorf("unknown machine %q for arch %s (%s)", name, a.Name, strings.Join(names, " or "))
}

// GuestMem returns the boot's guest RAM: opts.Mem, or def when that is
// zero; below least it is an error that says why (need).
func GuestMem(opts *Options, def, least int64, need string) (int64, error) {
	mem := opts.Mem
	if mem == 0 {
		mem = def
	}
	if mem < least {
		return 0, fmt.Errorf("--mem %dM is too small (at least %dM: %s)", mem>>20, least>>20, need)
	}
	return mem, nil
}

// VirtioMMIODisks attaches each drive as a virtio-blk-device on the
// machine's virtio-mmio transports. QEMU's virtio-mmio is version 1
// (legacy) unless told otherwise.
func VirtioMMIODisks(opts *Options) []string {
	args := []string{"-global", fmt.Sprintf("virtio-mmio.force-legacy=%t", opts.Legacy)}
	return append(args, virtioDisks(opts, "virtio-blk-device")...)
}

// VirtioPCIDisks attaches each drive as a virtio-blk-pci function:
// modern only, or transitional with the legacy I/O BAR only.
func VirtioPCIDisks(opts *Options) []string {
	device := "virtio-blk-pci,disable-legacy=on,disable-modern=off"
	if opts.Legacy {
		device = "virtio-blk-pci,disable-modern=on,disable-legacy=off"
	}
	return virtioDisks(opts, device)
}

func virtioDisks(opts *Options, device string) []string {
	if opts.Packed {
		// QEMU's virtio devices offer VIRTIO_F_RING_PACKED only when
		// told (the property packed, off by default).
		device += ",packed=on"
	}
	if opts.Queues > 0 {
		// VIRTIO_BLK_F_MQ with num_queues = N (QEMU hw/block/virtio-blk.c,
		// property num-queues). Left unset, QEMU gives virtio-blk-pci one
		// queue per vCPU (QEMU 5.2 and later) and virtio-mmio one.
		device += fmt.Sprintf(",num-queues=%d", opts.Queues)
	}
	var args []string
	for i, d := range opts.Drives {
		id := fmt.Sprintf("disk%d", i)
		args = append(args, "-drive", d+",if=none,id="+id, "-device", device+",drive="+id)
	}
	return args
}

// SemihostingArgs enable Arm semihosting, the exit-status mechanism of the
// Arm architectures: the guest's SYS_EXIT (AArch64: ADP_Stopped_ApplicationExit
// with a subcode; AArch32: SYS_EXIT_EXTENDED) makes QEMU exit with that
// code. userspace=on lets a Linux guest's user space make the call too
// (QEMU 7.2 and later); a guest at EL3 or in a supervisor mode needs
// nothing more.
var SemihostingArgs = []string{"-semihosting-config", "enable=on,target=native,userspace=on"}
