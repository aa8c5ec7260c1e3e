package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	Tags    []string // build tags of every image, e.g. semihosting
	// MachineTags, when set, gives each machine an image of its own,
	// built with these tags added: the arm boards are picked at build
	// time, since each upstream board links the runtime's hooks itself.
	MachineTags map[string][]string
	// QEMUArgs returns the machine (-M, -cpu), the memory (-m, from
	// opts.Mem or the target's default) and -kernel elf.
	QEMUArgs func(opts *Options, elf string) ([]string, error)
}

type tamagoRuntime struct{}

type tamagoImage struct {
	arch   string
	target *TamaGoTarget
	elf    string            // the image, or
	elfs   map[string]string // one per machine (TamaGoTarget.MachineTags)
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

	img := tamagoImage{arch: env.Arch.Name, target: target}
	if target.MachineTags == nil {
		img.elf = filepath.Join(dir, "tamaswap.elf")
		return img, BuildTamaGo(env, goCmd, img.elf, "./cmd/tamaswap", target.Tags...)
	}
	img.elfs = map[string]string{}
	for _, m := range env.Arch.Machines {
		elf := filepath.Join(dir, m.Name, "tamaswap.elf")
		tags := append(target.Tags[:len(target.Tags):len(target.Tags)], target.MachineTags[m.Name]...)
		if err := BuildTamaGo(env, goCmd, elf, "./cmd/tamaswap", tags...); err != nil {
			return nil, err
		}
		img.elfs[m.Name] = elf
	}
	return img, nil
}

// BuildTamaGo builds package pkg of the module as a TamaGo image for
// env.Arch, with build tags. go build relinks only when something changed.
func BuildTamaGo(env *Env, goCmd []string, out, pkg string, tags ...string) error {
	target := env.Arch.TamaGo
	args := append(goCmd[1:len(goCmd):len(goCmd)], "build", "-trimpath", "-ldflags", target.LDFlags)
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "-o", out, pkg)
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
	elf := img.elf
	if img.elfs != nil {
		var ok bool
		if elf, ok = img.elfs[opts.Machine]; !ok {
			return nil, fmt.Errorf("tamago runtime: no image for machine %q", opts.Machine)
		}
	}
	return img.target.QEMUArgs(opts, elf)
}
