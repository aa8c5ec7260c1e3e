package qemu

import (
	"os"
	"testing"

	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// Every boot test runs on each QEMU of harness.QEMUNames: the system's
// (Debian 12's 7.2) and QEMU 10 from cache/qemu-10 (qemu/setup --qemu
// 10), as subtests named after the version that ran, qemu7.2 and
// qemu10.0, so that a failure says which QEMU it was.

// qemuLabel returns the subtest name of QEMU name, and why it cannot
// run here ("" when it can).
func qemuLabel(name string) (label, why string) {
	q, err := harness.LookupQEMU(name)
	if err != nil {
		return "qemu" + name, err.Error()
	}
	a, err := harness.LookupArch(harness.DefaultArch)
	if err != nil {
		return "qemu" + name, err.Error()
	}
	v, err := q.Version(a)
	if err != nil {
		return "qemu" + name, err.Error()
	}
	return "qemu" + harness.MajorMinor(v), ""
}

// forQEMUs runs body once per QEMU, each a subtest named after its
// version, with the QEMU's name for harness.Options.QEMU. A QEMU that is
// missing skips its subtest, or fails it in CI (CI=true), where both
// must run.
func forQEMUs(t *testing.T, body func(t *testing.T, q string)) {
	t.Helper()
	for _, name := range harness.QEMUNames {
		label, why := qemuLabel(name)
		t.Run(label, func(t *testing.T) {
			if why != "" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("cannot boot on QEMU %s in CI: %s", name, why)
				}
				t.Skipf("skipped: %s", why)
			}
			body(t, name)
		})
	}
}

// For the TamaGo boot tests, in package qemu_test.
var ForQEMUs = forQEMUs

// qemuVersion returns the X.Y.Z of QEMU q's amd64 emulator.
func qemuVersion(t *testing.T, q string) string {
	t.Helper()
	qq, err := harness.LookupQEMU(q)
	if err != nil {
		t.Fatal(err)
	}
	a, err := harness.LookupArch(harness.DefaultArch)
	if err != nil {
		t.Fatal(err)
	}
	v, err := qq.Version(a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
