package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeKernelPackage lays out PKG/boot/vmlinuz-V and PKG/lib/modules/V/kernel
// with the given module files.
func fakeKernelPackage(t *testing.T, files ...string) string {
	t.Helper()
	pkg := t.TempDir()
	kernel := filepath.Join(pkg, "boot", "vmlinuz-6.1.0-test")
	for _, f := range append([]string{kernel}, files...) {
		if !filepath.IsAbs(f) {
			f = filepath.Join(pkg, "lib", "modules", "6.1.0-test", "kernel", f)
		}
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(filepath.Base(f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return kernel
}

func TestModuleEntries(t *testing.T) {
	var files []string
	for _, m := range KernelModules {
		dir := "drivers/virtio/"
		if m == "virtio_blk" {
			dir = "drivers/block/"
		}
		files = append(files, dir+m+".ko")
	}
	kernel := fakeKernelPackage(t, append(files, "drivers/net/virtio_net.ko")...)
	entries, err := moduleEntries(kernel)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2+len(KernelModules) {
		t.Fatalf("%d entries, want %d", len(entries), 2+len(KernelModules))
	}
	for i, m := range KernelModules {
		e := entries[2+i]
		if e.name != "lib/modules/"+m+".ko" || string(e.data) != m+".ko" {
			t.Errorf("entry %d = %s (%q), want lib/modules/%s.ko", i, e.name, e.data, m)
		}
	}
}

func TestModuleEntriesMissingOrCompressed(t *testing.T) {
	kernel := fakeKernelPackage(t, "drivers/virtio/virtio_ring.ko.xz")
	if _, err := moduleEntries(kernel); err == nil || !strings.Contains(err.Error(), "compressed") {
		t.Fatalf("compressed module: err = %v", err)
	}
	kernel = fakeKernelPackage(t, "drivers/virtio/virtio_ring.ko")
	if _, err := moduleEntries(kernel); err == nil || !strings.Contains(err.Error(), "no virtio.ko") {
		t.Fatalf("missing module: err = %v", err)
	}
	if _, err := moduleEntries("/nonexistent/bzImage"); err == nil {
		t.Fatal("kernel not named vmlinuz-VERSION: no error")
	}
}
