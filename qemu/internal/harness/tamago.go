package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The TamaGo runtime: cmd/tamaswap built GOOS=tamago GOARCH=amd64 with
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
func init() { Register("tamago", func() Runtime { return tamagoRuntime{} }) }

// TamaGo runtime settings.
const (
	// TamagoRAMStart is where the Go runtime's memory starts (package
	// amd64 of github.com/usbarmory/tamago); the heap size itself is
	// board/microvm.RAMSize, fixed at build time (64 MiB).
	TamagoRAMStart = 0x10000000
	TamagoHeap     = 64 << 20
	// TamagoDefaultMem is QEMU's -m: RAM must reach past the runtime's
	// memory, and QEMU allocates only what the guest touches.
	TamagoDefaultMem = 512 << 20
	TamagoMinMem     = TamagoRAMStart + TamagoHeap

	// TamagoLDFlags are upstream's microvm link flags: text just above
	// RamStart (the first 64 KiB hold nothing the ELF loader needs),
	// segments aligned to pages.
	TamagoLDFlags = "-T 0x10010000 -R 0x1000"
)

type tamagoRuntime struct{}

type tamagoImage struct{ elf string }

func (tamagoRuntime) Build(env *Env) (Image, error) {
	goCmd, err := FindTamaGo()
	if err != nil {
		return nil, fmt.Errorf("%w (TAMAGO)", err)
	}
	dir := filepath.Join(env.Root, "build", "tamago")
	unlock, err := Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	elf := filepath.Join(dir, "tamaswap.elf")
	if err := BuildTamaGo(env, goCmd, elf, "./cmd/tamaswap"); err != nil {
		return nil, err
	}
	return tamagoImage{elf: elf}, nil
}

// BuildTamaGo builds package pkg of the module as a TamaGo microvm image.
// go build relinks only when something changed.
func BuildTamaGo(env *Env, goCmd []string, out, pkg string) error {
	args := append(goCmd[1:len(goCmd):len(goCmd)], "build", "-trimpath", "-ldflags", TamagoLDFlags, "-o", out, pkg)
	cmd := exec.Command(goCmd[0], args...)
	cmd.Dir = env.Root
	// GOTOOLCHAIN=local: otherwise the TamaGo compiler (go1.26.0) may
	// hand over to a stock toolchain that knows no GOOS=tamago.
	cmd.Env = append(os.Environ(),
		"GOOS=tamago", "GOARCH=amd64", "GOOSPKG=github.com/usbarmory/tamago",
		"CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
	cmd.Stdout, cmd.Stderr = env.Log, env.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the TamaGo image (GOOS=tamago %s): %w", pkg, err)
	}
	return nil
}

func (img tamagoImage) QEMUArgs(opts *Options) ([]string, error) {
	mem := opts.Mem
	if mem == 0 {
		mem = TamagoDefaultMem
	}
	if mem < TamagoMinMem {
		return nil, fmt.Errorf("tamago runtime: --mem %dM is too small (at least %dM: the Go runtime's %dM start at %dM)",
			mem>>20, TamagoMinMem>>20, TamagoHeap>>20, TamagoRAMStart>>20)
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
		"-kernel", img.elf,
	}, nil
}
