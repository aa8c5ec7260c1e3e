package harness

import (
	"errors"
	"fmt"
)

// arm: QEMU's mcimx6ul-evk (NXP i.MX6UL, Cortex-A7) running either of the
// i.MX6 boards, TamaGo only (no hosted runtime: the Debian kernel has no
// uSDHC path we would drive from user space). The disks are SD cards,
// not virtio: QEMU puts one on each of the SoC's two uSDHC controllers
// (-drive if=sd,index=0 on uSDHC1, index=1 on uSDHC2). The exit-status
// mechanism is semihosting (SYS_EXIT_EXTENDED, SVC 0x123456), compiled
// into images built with the tag semihosting, which these are.
func init() {
	RegisterArch(&Arch{
		Name:        "arm",
		QEMU:        "qemu-system-arm",
		QEMUPackage: "qemu-system-arm",
		Machines: []Machine{
			{Name: MachineUSBArmory, DiskArgs: SDDisks},
			{Name: MachineMX6ULLEVK, DiskArgs: SDDisks},
		},
		ExitArgs: SemihostingArgs,
		TamaGo: &TamaGoTarget{
			GOARCH:  "arm",
			Env:     []string{"GOARM=7"},
			Dir:     "tamago-arm",
			LDFlags: TamagoARMLDFlags,
			Tags:    []string{"semihosting"},
			MachineTags: map[string][]string{
				MachineUSBArmory: {"usbarmory"},
				MachineMX6ULLEVK: {"mx6ullevk"},
			},
			QEMUArgs: tamagoARMArgs,
		},
	})
}

// Machines of the arm arch: both are QEMU's mcimx6ul-evk, with the image
// of one board or the other.
const (
	MachineUSBArmory = "usbarmory" // USB armory Mk II: board/usbarmory, console on UART2
	MachineMX6ULLEVK = "mx6ullevk" // i.MX6ULL EVK: board/mx6ullevk, console on UART1
)

// TamaGo on arm: upstream's i.MX6UL link (text 64 KiB into the MMDC's
// RAM at 0x80000000, above the exception vectors and page tables), and
// the RAM both upstream boards give the runtime (512 MiB, all of a USB
// armory's), which QEMU's -m must cover.
const (
	TamagoARMLDFlags    = "-T 0x80010000 -R 0x1000"
	TamagoARMDefaultMem = 512 << 20
	TamagoARMMinMem     = 512 << 20
	// SDSlots is the number of uSDHC controllers, and so of disks.
	SDSlots = 2
)

func tamagoARMArgs(opts *Options, elf string) ([]string, error) {
	mem, err := GuestMem(opts, TamagoARMDefaultMem, TamagoARMMinMem, "the boards link the Go runtime for 512 MiB of RAM")
	if err != nil {
		return nil, err
	}
	if opts.Legacy {
		return nil, errors.New("arm: --legacy is a virtio option; the i.MX6 boards' disks are SD cards")
	}
	if len(opts.Drives) > SDSlots {
		return nil, fmt.Errorf("arm: %d disks, but the i.MX6UL has %d uSDHC controllers", len(opts.Drives), SDSlots)
	}
	args := []string{
		"-M", "mcimx6ul-evk",
		"-cpu", "cortex-a7",
		"-m", fmt.Sprintf("%dM", mem>>20),
		"-kernel", elf,
	}
	if opts.Machine == MachineUSBArmory {
		// The harness's console is the next -serial: UART2, the USB
		// armory's console; UART1 goes nowhere.
		args = append(args, "-serial", "null")
	}
	return args, nil
}

// SDDisks attaches each drive as the SD card of the next uSDHC controller
// (index 0 is uSDHC1). QEMU needs a raw image whose size is a power of
// two; up to 2 GiB the card is standard capacity (byte addressed), above
// it high capacity (block addressed).
func SDDisks(opts *Options) []string {
	var args []string
	for i, d := range opts.Drives {
		args = append(args, "-drive", fmt.Sprintf("%s,if=sd,index=%d", d, i))
	}
	return args
}
