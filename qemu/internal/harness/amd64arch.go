package harness

import (
	"errors"
	"fmt"
	"strings"
)

// amd64: QEMU's microvm machine (virtio-mmio) and a PCI machine, for both
// runtimes. The exit-status mechanism is QEMU's isa-debug-exit device at
// port DebugExitPort.
func init() {
	RegisterArch(&Arch{
		Name:        "amd64",
		QEMU:        "qemu-system-x86_64",
		QEMUPackage: "qemu-system-x86",
		Machines: []Machine{
			{Name: MachineMicrovm, DiskArgs: VirtioMMIODisks},
			{Name: MachinePCI, DiskArgs: VirtioPCIDisks},
		},
		ExitArgs: []string{"-device", fmt.Sprintf("isa-debug-exit,iobase=%#x,iosize=0x04", DebugExitPort)},
		TamaGo: &TamaGoTarget{
			GOARCH:   "amd64",
			Dir:      "tamago",
			LDFlags:  TamagoLDFlags,
			QEMUArgs: tamagoAMD64Args,
		},
		Hosted: &HostedTarget{
			GOARCH:   "amd64",
			Dir:      "hosted",
			QEMUArgs: hostedAMD64Args,
		},
	})
}

// Machines of the amd64 arch.
const (
	MachineMicrovm = "microvm" // QEMU microvm, virtio-mmio disks
	MachinePCI     = "pci"     // a PCI machine (q35 for the hosted runtime), virtio-pci disks
)

// TamaGo on amd64: cmd/tamaswap built GOOS=tamago GOARCH=amd64 with
// board/microvm, an ELF that QEMU's microvm machine boots directly
// (-kernel). See board/microvm for the machine and what the board does.
//
// Both machines are microvm: --machine microvm gives virtio-mmio disks,
// --machine pci gives microvm with pcie=on, whose PCI Express host bridge
// the board enumerates through ECAM, assigning BARs itself. q35 and pc
// would have firmware that assigns BARs and an I/O window, but -kernel on
// them does not start a TamaGo ELF (DESIGN.md), so legacy (transitional)
// virtio-pci, which needs an I/O BAR, is the hosted runtime's: under
// TamaGo the board reports the device and skips it.
const (
	// TamagoRAMStart is where the Go runtime's memory starts (package
	// amd64 of github.com/usbarmory/tamago); the heap size itself is
	// board/microvm.RAMSize, fixed at build time (128 MiB).
	TamagoRAMStart = 0x10000000
	TamagoHeap     = 128 << 20
	// TamagoDefaultMem is QEMU's -m: RAM must reach past the runtime's
	// memory, and QEMU allocates only what the guest touches.
	TamagoDefaultMem = 512 << 20
	TamagoMinMem     = TamagoRAMStart + TamagoHeap

	// TamagoLDFlags are upstream's microvm link flags: text just above
	// RamStart (the first 64 KiB hold nothing the ELF loader needs),
	// segments aligned to pages.
	TamagoLDFlags = "-T 0x10010000 -R 0x1000"
)

func tamagoAMD64Args(opts *Options, elf string) ([]string, error) {
	mem, err := GuestMem(opts, TamagoDefaultMem, TamagoMinMem,
		fmt.Sprintf("the Go runtime's %dM start at %dM", TamagoHeap>>20, TamagoRAMStart>>20))
	if err != nil {
		return nil, err
	}
	// pic=off: the board runs without the 8259s (it masks them
	// anyway); the PIT stays, it is what the TSC is calibrated against.
	machine := "microvm,pic=off"
	switch opts.Machine {
	case MachineMicrovm:
	case MachinePCI:
		if opts.Legacy {
			return nil, errors.New("tamago runtime: legacy virtio-pci needs an I/O port window, which microvm's PCI Express host bridge does not map: use --runtime hosted for it")
		}
		machine += ",pcie=on"
	default:
		return nil, errors.New("tamago runtime: unknown machine " + opts.Machine)
	}
	return []string{
		"-M", machine,
		// -cpu max: the runtime seeds its random numbers with RDRAND,
		// which TCG's default qemu64 model does not offer.
		"-cpu", "max",
		"-m", fmt.Sprintf("%dM", mem>>20),
		"-kernel", elf,
	}, nil
}

// Hosted runtime defaults and limits on amd64.
const (
	HostedDefaultMem = 512 << 20
	HostedMinMem     = 96 << 20
)

// DMAWindow returns the physical range the hosted guest reserves for DMA
// (memmap=SIZE$ADDR) in mem bytes of RAM: an eighth of it between 8 and
// 64 MiB, starting halfway up but not below 64 MiB nor above 1 GiB. That
// is above the kernel (loaded at 16 MiB, nokaslr, ending below 56 MiB with
// its data), below the initramfs, which QEMU puts at the top of RAM, and
// always in the RAM below the PCI hole.
func DMAWindow(mem int64) (addr, size int64) {
	const align = 2 << 20
	size = min(max(mem/8, 8<<20), 64<<20) &^ (align - 1)
	addr = min(max(mem/2, 64<<20), 1<<30) &^ (align - 1)
	return addr, size
}

func hostedAMD64Args(opts *Options, kernel, initramfs string) ([]string, error) {
	mem, err := GuestMem(opts, HostedDefaultMem, HostedMinMem, "the kernel, the initramfs and the DMA range share it")
	if err != nil {
		return nil, err
	}
	var machine string
	switch opts.Machine {
	case MachineMicrovm:
		machine = "microvm"
	case MachinePCI:
		machine = "q35"
	default:
		return nil, errors.New("hosted runtime: unknown machine " + opts.Machine)
	}
	addr, size := DMAWindow(mem)
	cmdline := []string{
		// microvm shows no console without earlyprintk (DESIGN.md).
		"console=ttyS0", "earlyprintk=ttyS0", "quiet", "panic=-1", "nokaslr",
		fmt.Sprintf("memmap=%dM$%#x", size>>20, addr),
	}
	if khz := HostTSCkHz(); khz > 0 {
		// Skip the TSC calibration that fails on a loaded host (see
		// HostTSCkHz) and the watchdog that would then distrust it.
		cmdline = append(cmdline, fmt.Sprintf("tsc_early_khz=%d", khz), "tsc=reliable")
	}
	cmdline = append(cmdline, opts.Append...)
	return []string{
		"-M", machine,
		"-m", fmt.Sprintf("%dM", mem>>20),
		"-kernel", kernel,
		"-initrd", initramfs,
		"-append", strings.Join(cmdline, " "),
	}, nil
}
