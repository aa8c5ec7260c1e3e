package qemu

import (
	"os"
	"os/exec"
	"testing"

	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// A target is a runtime on an arch: what a boot test runs on.
type target struct {
	runtime, arch string
	qemu          string // harness.Options.QEMU; see forQEMUs
}

func (tg target) String() string { return tg.runtime + "-" + tg.arch }

// options returns boot options for the target.
func (tg target) options() harness.Options {
	return harness.Options{Runtime: tg.runtime, Arch: tg.arch, QEMU: tg.qemu}
}

// bootTargets are the targets of the boot tests that run everywhere: the
// hosted runtime on both arches (in CI too), and TamaGo on arm64, which
// has no other test for these cases (TamaGo on amd64 has tamago_test.go).
var bootTargets = []target{{"hosted", "amd64", ""}, {"hosted", "arm64", ""}, {"tamago", "arm64", ""}}

// forTargets runs body once per QEMU (forQEMUs) and boot target, each a
// parallel subtest named after them (qemu7.2/hosted-amd64), skipping
// (or, for the hosted runtime in CI, failing) where the target cannot
// run.
func forTargets(t *testing.T, body func(t *testing.T, tg target)) {
	forQEMUs(t, func(t *testing.T, q string) {
		for _, tg := range bootTargets {
			tg.qemu = q
			t.Run(tg.String(), func(t *testing.T) {
				needTarget(t, tg)
				t.Parallel()
				body(t, tg)
			})
		}
	})
}

// needTarget skips the test when the target cannot run here: QEMU for
// its arch missing (a failure in CI for the hosted runtime, which must
// run there), or no TamaGo compiler.
func needTarget(t *testing.T, tg target) {
	t.Helper()
	needQEMU(t)
	a, err := harness.LookupArch(tg.arch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath(a.QEMU); err != nil {
		if os.Getenv("CI") == "true" && tg.runtime == "hosted" {
			t.Fatalf("cannot boot %s guests in CI: %s not found (the %s package)", tg.arch, a.QEMU, a.QEMUPackage)
		}
		t.Skipf("skipped: %s not found (install the %s package)", a.QEMU, a.QEMUPackage)
	}
	if tg.runtime == "tamago" {
		if _, err := harness.FindTamaGo(); err != nil {
			t.Skip("skipped: no TamaGo compiler")
		}
	}
}
