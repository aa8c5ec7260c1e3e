package harness

import (
	"slices"
	"testing"
)

// QEMU 10 from cache/ runs with its own firmware and modules; the
// system's with neither option.
func TestQEMUArgsEnv(t *testing.T) {
	q := &QEMU{Name: QEMU10, Prefix: "/r/cache/qemu-10"}
	if got, want := q.Args(), []string{"-L", "/r/cache/qemu-10/usr/share/qemu"}; !slices.Equal(got, want) {
		t.Errorf("Args() = %q, want %q", got, want)
	}
	if env := q.Env(); !slices.Contains(env, "QEMU_MODULE_DIR=/r/cache/qemu-10/usr/lib/x86_64-linux-gnu/qemu") {
		t.Errorf("Env() has no QEMU_MODULE_DIR for the unpacked modules")
	}
	a, err := LookupArch("arm")
	if err != nil {
		t.Fatal(err)
	}
	if bin, err := q.Binary(a); bin != "/r/cache/qemu-10/usr/bin/qemu-system-arm" || err != nil {
		t.Errorf("Binary(arm) = %q, %v", bin, err)
	}
	sys := &QEMU{Name: QEMUSystem}
	if len(sys.Args()) != 0 {
		t.Errorf("system QEMU Args() = %q, want none", sys.Args())
	}
	if _, err := LookupQEMU("9"); err == nil {
		t.Error("LookupQEMU(9) found a QEMU")
	}
	for v, want := range map[string]string{"7.2.22": "7.2", "10.0.2": "10.0", "10": "10"} {
		if got := MajorMinor(v); got != want {
			t.Errorf("MajorMinor(%q) = %q, want %q", v, got, want)
		}
	}
}
