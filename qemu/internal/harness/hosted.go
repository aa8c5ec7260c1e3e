package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The hosted runtime: the in-image program built GOOS=linux, static, as
// /init of an initramfs this file writes, booted with Debian's cloud
// kernel (fetched by qemu/kernel into cache/). See board/hosted.
func init() { Register("hosted", func() Runtime { return hostedRuntime{} }) }

// Hosted runtime defaults and limits.
const (
	HostedDefaultMem = 512 << 20
	HostedMinMem     = 96 << 20
)

type hostedRuntime struct{}

type hostedImage struct {
	kernel, initramfs string
}

func (hostedRuntime) Build(env *Env) (Image, error) {
	dir := filepath.Join(env.Root, "build", "hosted")
	unlock, err := Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	// go build relinks only when something changed, and leaves the
	// binary alone (and its modification time) otherwise.
	bin := filepath.Join(dir, "tamaswap")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/tamaswap")
	cmd.Dir = env.Root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
	cmd.Stdout, cmd.Stderr = env.Log, env.Log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building the hosted in-image program (GOOS=linux ./cmd/tamaswap): %w", err)
	}
	kernel, err := fetchKernel(env)
	if err != nil {
		return nil, err
	}
	cpio := filepath.Join(dir, "initramfs.cpio")
	if stale(cpio, bin) || stale(cpio, kernel) {
		if err := writeInitramfs(cpio, bin, kernel); err != nil {
			return nil, err
		}
	}
	return hostedImage{kernel: kernel, initramfs: cpio}, nil
}

// stale reports whether target is missing or older than source.
func stale(target, source string) bool {
	t, err := os.Stat(target)
	if err != nil {
		return true
	}
	s, err := os.Stat(source)
	return err != nil || s.ModTime().After(t.ModTime())
}

// writeInitramfs writes the initramfs: /init and the empty folders the
// board mounts on, plus /dev/console, which the kernel opens as init's
// standard input and output before any devtmpfs exists, and the kernel's
// virtio modules for the kernel path (tamaswap.path=kernel),
// from the package of kernel.
func writeInitramfs(name, bin, kernel string) error {
	prog, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	mods, err := moduleEntries(kernel)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	err = writeCPIO(&b, append([]cpioEntry{
		{name: "dev", mode: modeDir | 0o755},
		{name: "dev/console", mode: modeChar | 0o600, rdev: [2]uint32{5, 1}},
		{name: "proc", mode: modeDir | 0o755},
		{name: "sys", mode: modeDir | 0o755},
		{name: "init", mode: modeFile | 0o755, data: prog},
	}, mods...))
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d", name, os.Getpid())
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// fetchKernel runs qemu/kernel, which resolves, fetches and unpacks the
// cloud kernel into cache/ when it is not there yet.
func fetchKernel(env *Env) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(env.Root, "qemu", "kernel"))
	cmd.Dir = env.Root
	cmd.Stdout, cmd.Stderr = &out, env.Log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("fetching the guest kernel (qemu/kernel): %w", err)
	}
	kernel := strings.TrimSpace(out.String())
	if _, err := os.Stat(kernel); err != nil {
		return "", fmt.Errorf("qemu/kernel printed %q: %w", kernel, err)
	}
	return kernel, nil
}

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

func (img hostedImage) QEMUArgs(opts *Options) ([]string, error) {
	mem := opts.Mem
	if mem == 0 {
		mem = HostedDefaultMem
	}
	if mem < HostedMinMem {
		return nil, fmt.Errorf("hosted runtime: --mem %dM is too small (at least %dM: the kernel, the initramfs and the DMA range share it)", mem>>20, HostedMinMem>>20)
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
		"-kernel", img.kernel,
		"-initrd", img.initramfs,
		"-append", strings.Join(cmdline, " "),
	}, nil
}
