package harness

import (
	"bytes"
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

// HostedTarget is the hosted runtime on one arch.
type HostedTarget struct {
	GOARCH string
	Dir    string // its build folder under build/
	// QEMUArgs returns the machine (-M, -cpu), the memory (-m, from
	// opts.Mem or the target's default), -kernel, -initrd and the
	// kernel command line (-append, with opts.Append).
	QEMUArgs func(opts *Options, kernel, initramfs string) ([]string, error)
}

type hostedRuntime struct{}

type hostedImage struct {
	arch              string
	target            *HostedTarget
	kernel, initramfs string
}

func (hostedRuntime) Build(env *Env) (Image, error) {
	target := env.Arch.Hosted
	if target == nil {
		return nil, fmt.Errorf("no hosted runtime for arch %s", env.Arch.Name)
	}
	dir := filepath.Join(env.Root, "build", target.Dir)
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
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+target.GOARCH, "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
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
	return hostedImage{arch: env.Arch.Name, target: target, kernel: kernel, initramfs: cpio}, nil
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
// arch's cloud kernel into cache/ when it is not there yet.
func fetchKernel(env *Env) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(env.Root, "qemu", "kernel"), "--arch", env.Arch.Name)
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

func (img hostedImage) Arch() string { return img.arch }

func (img hostedImage) QEMUArgs(opts *Options) ([]string, error) {
	return img.target.QEMUArgs(opts, img.kernel, img.initramfs)
}
