package harness

import (
	"fmt"
	"strings"
)

// arm64: QEMU's virt machine, with its virtio-mmio transports (--machine
// virt) or its PCI Express host (--machine pci), for both runtimes. The
// exit-status mechanism is semihosting.
func init() {
	RegisterArch(&Arch{
		Name:        "arm64",
		QEMU:        "qemu-system-aarch64",
		QEMUPackage: "qemu-system-arm",
		Machines: []Machine{
			{Name: MachineVirt, DiskArgs: VirtioMMIODisks},
			{Name: MachinePCI, DiskArgs: VirtioPCIDisks},
		},
		ExitArgs: SemihostingArgs,
		TamaGo: &TamaGoTarget{
			GOARCH:   "arm64",
			Dir:      "tamago-arm64",
			LDFlags:  TamagoARM64LDFlags,
			QEMUArgs: tamagoARM64Args,
		},
		Hosted: &HostedTarget{
			GOARCH:   "arm64",
			Dir:      "hosted-arm64",
			QEMUArgs: hostedARM64Args,
		},
	})
}

// MachineVirt is QEMU's arm64 virt machine with virtio-mmio disks.
const MachineVirt = "virt"

// ARM64CPU is the CPU model of every arm64 boot: max has FEAT_RNG (RNDR,
// the TamaGo board's entropy), which cortex-a53 lacks. pauth-impdef=on
// swaps the architected pointer-authentication hash (QARMA, slow under
// TCG) for QEMU's own: the same instructions, a faster emulation.
const ARM64CPU = "max,pauth-impdef=on"

// TamaGo on arm64: cmd/tamaswap with board/virt. TamaGo's arm64 runtime
// starts only at EL3, which virt enters with secure=on; its interrupt
// controller driver is GICv3 only.
const (
	// TamagoARM64RAMStart is the start of virt's RAM and of the Go
	// runtime's memory (board/virt); the runtime gets TamagoARM64Heap.
	TamagoARM64RAMStart = 0x40000000
	TamagoARM64Heap     = 128 << 20
	// TamagoARM64LDFlags: text 64 KiB into RAM, above the runtime's page
	// tables (RamStart+0x4000...0x9000), segments aligned to pages.
	TamagoARM64LDFlags = "-T 0x40010000 -R 0x1000"
	// TamagoARM64DefaultMem is QEMU's -m; the board's RAM must fit in it.
	TamagoARM64DefaultMem = 512 << 20
	TamagoARM64MinMem     = 256 << 20
)

func tamagoARM64Args(opts *Options, elf string) ([]string, error) {
	// Seen with -smp 2: both CPUs start at the image's entry (a
	// non-Linux ELF at EL3, where QEMU provides no PSCI to hold the
	// second), and the two runtimes starting side by side faulted
	// before the banner; board/virt does not park secondary CPUs.
	if opts.CPUs > 1 {
		return nil, fmt.Errorf("tamago runtime on arm64: --cpus %d: QEMU starts every CPU at the image's entry and board/virt runs on one CPU only", opts.CPUs)
	}
	// Both machines are the same virt: --machine only picks the
	// disks' transport.
	mem, err := GuestMem(opts, TamagoARM64DefaultMem, TamagoARM64MinMem, "the Go runtime's memory and the board's DMA memory")
	if err != nil {
		return nil, err
	}
	return []string{
		"-M", "virt,secure=on,gic-version=3",
		"-cpu", ARM64CPU,
		"-m", fmt.Sprintf("%dM", mem>>20),
		"-kernel", elf,
	}, nil
}

// Hosted runtime on arm64: Debian's arm64 cloud kernel on virt. DMA
// memory comes from hugepages (board/hosted), reserved at boot by the
// kernel command line: HostedARM64Hugepages of 2 MiB.
const (
	HostedARM64DefaultMem = 512 << 20
	HostedARM64MinMem     = 192 << 20
	HostedARM64Hugepages  = 16
)

func hostedARM64Args(opts *Options, kernel, initramfs string) ([]string, error) {
	mem, err := GuestMem(opts, HostedARM64DefaultMem, HostedARM64MinMem, "the kernel, the initramfs and the DMA hugepages share it")
	if err != nil {
		return nil, err
	}
	cmdline := []string{
		"console=ttyAMA0", "quiet", "panic=-1",
		"hugepagesz=2M", fmt.Sprintf("hugepages=%d", HostedARM64Hugepages),
	}
	cmdline = append(cmdline, opts.Append...)
	return []string{
		"-M", "virt",
		"-cpu", ARM64CPU,
		"-m", fmt.Sprintf("%dM", mem>>20),
		"-kernel", kernel,
		"-initrd", initramfs,
		"-append", strings.Join(cmdline, " "),
	}, nil
}
