//go:build linux && amd64

package hosted

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tamaswap/tamaswap/virtio"
)

// Init does what an init process must before anything else: it mounts
// devtmpfs on /dev (device nodes: /dev/mem, /dev/ttyS0), proc on /proc
// (/proc/cmdline) and sysfs on /sys (PCI functions). A file system that is
// already mounted is fine.
func Init() error {
	mounts := []struct{ fstype, dir string }{
		{"devtmpfs", "/dev"},
		{"proc", "/proc"},
		{"sysfs", "/sys"},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return fmt.Errorf("hosted: %w", err)
		}
		err := unix.Mount(m.fstype, m.dir, m.fstype, unix.MS_NOSUID|unix.MS_NOEXEC, "")
		if err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("hosted: mount %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	return nil
}

// Board is what the hosted runtime found on the machine.
type Board struct {
	Platform string         // "microvm", "q35", "pc", or DMI's product name
	DMARange DMARange       // the memmap= range behind DMA
	DMA      *virtio.Region // DMA memory for every device
	MMIO     []MMIOSlot     // virtio-mmio slots with a device, highest first
	PCI      []*PCIDevice   // virtio-blk PCI functions, in bus order

	dmaMap  *physMapping
	mmioMap *physMapping
}

// Open finds the platform, maps the DMA range named on the kernel command
// line and the virtio-mmio slots (on microvm), and lists the virtio-blk
// PCI functions. Call Init first.
func Open() (*Board, error) {
	b := &Board{Platform: platform()}
	cmdline, err := readCmdline()
	if err != nil {
		return nil, err
	}
	b.DMARange, err = parseDMARange(cmdline)
	if err != nil {
		return nil, err
	}
	if b.DMARange.Size > 1<<40 {
		return nil, fmt.Errorf("hosted: DMA range of %#x bytes is too large", b.DMARange.Size)
	}
	b.dmaMap, err = mapPhys(b.DMARange.Addr, int(b.DMARange.Size), false)
	if err != nil {
		return nil, err
	}
	if b.DMA, err = virtio.NewRegion(b.dmaMap.bytes(), b.DMARange.Addr); err != nil {
		b.Close()
		return nil, err
	}
	// Only microvm has virtio-mmio slots there; elsewhere that address
	// may be a PCI BAR whose registers have side effects on read.
	if b.Platform == "microvm" {
		b.MMIO, b.mmioMap, err = probeMMIO()
		if err != nil {
			b.Close()
			return nil, err
		}
	}
	b.PCI, err = scanPCI("/sys")
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// platform names the QEMU machine from its SMBIOS product name. microvm
// has no SMBIOS tables at all.
func platform() string {
	b, err := os.ReadFile("/sys/class/dmi/id/product_name")
	if err != nil {
		return "microvm"
	}
	name := strings.TrimSpace(string(b))
	switch {
	case strings.Contains(name, "Q35"):
		return "q35"
	case strings.Contains(name, "i440FX"):
		return "pc"
	case name == "":
		return "unknown"
	}
	return name
}

// Close unmaps everything Open mapped. The board's Regs and DMA memory
// must not be used afterwards.
func (b *Board) Close() error {
	errs := []error{b.dmaMap.close(), b.mmioMap.close()}
	for _, d := range b.PCI {
		errs = append(errs, d.Close())
	}
	b.PCI, b.MMIO, b.DMA = nil, nil, nil
	return errors.Join(errs...)
}
