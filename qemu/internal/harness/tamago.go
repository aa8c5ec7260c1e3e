package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The TamaGo runtime: cmd/tamaswap built GOOS=tamago for the boot's arch
// with that arch's board (board/microvm on amd64, board/virt on arm64), an
// ELF that QEMU boots directly (-kernel). Each arch's TamaGoTarget says how
// to link it and how QEMU starts it.
func init() { Register("tamago", func() Runtime { return tamagoRuntime{} }) }

// TamaGoTarget is the TamaGo runtime on one arch.
type TamaGoTarget struct {
	GOARCH  string
	Env     []string // more of the build's environment, e.g. GOARM=7
	Dir     string   // its build folder under build/
	LDFlags string   // the link's text address and alignment (-T, -R)
	// QEMUArgs returns the machine (-M, -cpu), the memory (-m, from
	// opts.Mem or the target's default) and -kernel elf.
	QEMUArgs func(opts *Options, elf string) ([]string, error)
}

type tamagoRuntime struct{}

type tamagoImage struct {
	arch   string
	target *TamaGoTarget
	elf    string
}

func (tamagoRuntime) Build(env *Env) (Image, error) {
	target := env.Arch.TamaGo
	if target == nil {
		return nil, fmt.Errorf("no TamaGo runtime for arch %s", env.Arch.Name)
	}
	goCmd, err := FindTamaGo()
	if err != nil {
		return nil, fmt.Errorf("%w (TAMAGO)", err)
	}
	dir := filepath.Join(env.Root, "build", target.Dir)
	unlock, err := Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	elf := filepath.Join(dir, "tamaswap.elf")
	if err := BuildTamaGo(env, goCmd, elf, "./cmd/tamaswap"); err != nil {
		return nil, err
	}
	return tamagoImage{arch: env.Arch.Name, target: target, elf: elf}, nil
}

// BuildTamaGo builds package pkg of the module as a TamaGo image for
// env.Arch. go build relinks only when something changed.
func BuildTamaGo(env *Env, goCmd []string, out, pkg string) error {
	target := env.Arch.TamaGo
	args := append(goCmd[1:len(goCmd):len(goCmd)], "build", "-trimpath", "-ldflags", target.LDFlags, "-o", out, pkg)
	cmd := exec.Command(goCmd[0], args...)
	cmd.Dir = env.Root
	// GOTOOLCHAIN=local: otherwise the TamaGo compiler (go1.26.0) may
	// hand over to a stock toolchain that knows no GOOS=tamago.
	cmd.Env = append(os.Environ(),
		"GOOS=tamago", "GOARCH="+target.GOARCH, "GOOSPKG=github.com/usbarmory/tamago",
		"CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
	cmd.Env = append(cmd.Env, target.Env...)
	cmd.Stdout, cmd.Stderr = env.Log, env.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the TamaGo image (GOOS=tamago GOARCH=%s %s): %w", target.GOARCH, pkg, err)
	}
	return nil
}

func (img tamagoImage) Arch() string { return img.arch }

func (img tamagoImage) QEMUArgs(opts *Options) ([]string, error) {
	return img.target.QEMUArgs(opts, img.elf)
}
