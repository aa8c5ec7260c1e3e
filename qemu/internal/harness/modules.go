package harness

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KernelModules are the guest kernel's modules the hosted runtime's
// kernel path loads (board/hosted.KernelModules), in load order.
// The initramfs carries them flat, as /lib/modules/NAME.ko.
var KernelModules = []string{
	"virtio_ring", "virtio", "virtio_mmio",
	"virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
	"virtio_blk",
}

// kernelModuleFiles finds KernelModules in the kernel package that holds
// kernel (PKG/boot/vmlinuz-VERSION): PKG/lib/modules/VERSION/kernel/….
// It returns them in KernelModules' order.
func kernelModuleFiles(kernel string) ([]string, error) {
	version, ok := strings.CutPrefix(filepath.Base(kernel), "vmlinuz-")
	if !ok {
		return nil, fmt.Errorf("kernel modules: %s is not named vmlinuz-VERSION", kernel)
	}
	dir := filepath.Join(filepath.Dir(filepath.Dir(kernel)), "lib", "modules", version, "kernel")
	found := map[string]string{}
	compressed := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		if base, ok := strings.CutSuffix(name, ".ko"); ok {
			found[base] = path
		}
		for _, ext := range []string{".ko.xz", ".ko.zst", ".ko.gz"} {
			if base, ok := strings.CutSuffix(name, ext); ok {
				compressed[base] = path
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kernel modules: %w", err)
	}
	files := make([]string, len(KernelModules))
	for i, m := range KernelModules {
		switch {
		case found[m] != "":
			files[i] = found[m]
		case compressed[m] != "":
			// finit_module takes compressed modules only with
			// MODULE_INIT_COMPRESSED_FILE and a kernel built to
			// decompress them; Debian's 6.1 cloud kernel ships them
			// uncompressed.
			return nil, fmt.Errorf("kernel modules: %s is compressed; unpack it next to it as %s.ko", compressed[m], m)
		default:
			return nil, fmt.Errorf("kernel modules: no %s.ko under %s", m, dir)
		}
	}
	return files, nil
}

// moduleEntries returns the initramfs entries for the kernel path's
// modules: /lib, /lib/modules and each module as /lib/modules/NAME.ko.
func moduleEntries(kernel string) ([]cpioEntry, error) {
	files, err := kernelModuleFiles(kernel)
	if err != nil {
		return nil, err
	}
	entries := []cpioEntry{
		{name: "lib", mode: modeDir | 0o755},
		{name: "lib/modules", mode: modeDir | 0o755},
	}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("kernel modules: %w", err)
		}
		entries = append(entries, cpioEntry{name: "lib/modules/" + KernelModules[i] + ".ko", mode: modeFile | 0o644, data: b})
	}
	return entries, nil
}
