package harness

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Which QEMU boots a guest (Options.QEMU, qemu/run --qemu): the system's
// (Debian 12's 7.2 here), or QEMU 10 from Debian's bookworm-backports,
// unpacked into cache/qemu-10 by qemu/qemu10 and never installed. The
// latter runs with -L pointing at its own firmware and option ROMs, and
// QEMU_MODULE_DIR at its own modules: without that it loads the system
// QEMU's modules and aborts ("Only modules from the same build can be
// loaded").
const (
	QEMUSystem = "system"
	QEMU10     = "10"
)

// QEMUNames are the QEMUs the boot tests run on, in order.
var QEMUNames = []string{QEMUSystem, QEMU10}

// A QEMU is one QEMU installation.
type QEMU struct {
	Name   string // QEMUSystem or QEMU10
	Prefix string // where it is unpacked; "" for the system's
}

// QEMUPrefix is where qemu/qemu10 unpacks QEMU 10, under the module's
// root.
const QEMUPrefix = "cache/qemu-10"

// LookupQEMU returns QEMU name ("" is QEMUSystem) as it is on this
// machine, without fetching anything: QEMU 10 must be in cache/ already
// (qemu/setup --qemu 10).
func LookupQEMU(name string) (*QEMU, error) {
	switch name {
	case "", QEMUSystem:
		return &QEMU{Name: QEMUSystem}, nil
	case QEMU10:
		root, err := FindRoot()
		if err != nil {
			return nil, err
		}
		prefix := filepath.Join(root, QEMUPrefix)
		if _, err := os.Stat(filepath.Join(prefix, ".complete")); err != nil {
			return nil, fmt.Errorf("QEMU 10 is not in %s (qemu/setup --qemu 10 fetches it)", QEMUPrefix)
		}
		return &QEMU{Name: QEMU10, Prefix: prefix}, nil
	}
	return nil, fmt.Errorf("unknown QEMU %q (%s)", name, strings.Join(QEMUNames, " or "))
}

// FetchQEMU is LookupQEMU, fetching QEMU 10 into cache/ (qemu/qemu10,
// its messages on log) when it is not there yet.
func FetchQEMU(name string, log io.Writer) (*QEMU, error) {
	q, err := LookupQEMU(name)
	if err == nil || name != QEMU10 {
		return q, err
	}
	root, rerr := FindRoot()
	if rerr != nil {
		return nil, rerr
	}
	cmd := exec.Command(filepath.Join(root, "qemu", "qemu10"))
	cmd.Dir, cmd.Stderr = root, log
	if out, err := cmd.Output(); err != nil {
		return nil, fmt.Errorf("fetching QEMU 10 (qemu/qemu10): %w %s", err, bytes.TrimSpace(out))
	}
	return LookupQEMU(name)
}

// Binary returns the path of the arch's system emulator.
func (q *QEMU) Binary(a *Arch) (string, error) {
	if q.Prefix == "" {
		p, err := exec.LookPath(a.QEMU)
		if err != nil {
			return "", fmt.Errorf("%w: %s not found (install the %s package)", ErrQEMU, a.QEMU, a.QEMUPackage)
		}
		return p, nil
	}
	return filepath.Join(q.Prefix, "usr", "bin", a.QEMU), nil
}

// Args are the arguments every boot of this QEMU starts with.
func (q *QEMU) Args() []string {
	if q.Prefix == "" {
		return nil
	}
	return []string{"-L", filepath.Join(q.Prefix, "usr", "share", "qemu")}
}

// Env is QEMU's environment.
func (q *QEMU) Env() []string {
	env := os.Environ()
	if q.Prefix != "" {
		env = append(env, "QEMU_MODULE_DIR="+filepath.Join(q.Prefix, "usr", "lib", "x86_64-linux-gnu", "qemu"))
	}
	return env
}

var (
	versionsMu sync.Mutex
	versions   = map[string]string{}
	versionRE  = regexp.MustCompile(`QEMU emulator version ([0-9]+\.[0-9]+\.[0-9]+)`)
)

// Version returns the version (X.Y.Z) the arch's emulator reports.
func (q *QEMU) Version(a *Arch) (string, error) {
	bin, err := q.Binary(a)
	if err != nil {
		return "", err
	}
	versionsMu.Lock()
	defer versionsMu.Unlock()
	if v, ok := versions[bin]; ok {
		return v, nil
	}
	cmd := exec.Command(bin, append(q.Args(), "--version")...)
	cmd.Env = q.Env()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s --version: %v", ErrQEMU, bin, err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%w: %s --version printed %q", ErrQEMU, bin, bytes.TrimSpace(out))
	}
	versions[bin] = string(m[1])
	return string(m[1]), nil
}

// MajorMinor returns X.Y of version X.Y.Z.
func MajorMinor(version string) string {
	if i := strings.LastIndexByte(version, '.'); i > 0 && strings.Count(version, ".") == 2 {
		return version[:i]
	}
	return version
}
