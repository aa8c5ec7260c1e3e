//go:build linux && (amd64 || arm64)

package hosted

import (
	"errors"
	"fmt"
	"os"

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
	Platform string       // "microvm", "q35", "pc", "virt", or DMI's product name
	DMA      dmaMemory    // DMA memory for every device
	MMIO     []MMIOSlot   // virtio-mmio slots with a device, highest first
	PCI      []*PCIDevice // virtio-blk PCI functions, in bus order

	mmioMap *physMapping
}

// dmaMemory is the board's DMA memory (openDMA: a memmap= range on amd64,
// hugepages on arm64).
type dmaMemory interface {
	virtio.DMA
	String() string // what it is, for messages
	Close() error
}

// Open finds the platform, sets up DMA memory (openDMA), maps the
// virtio-mmio slots (on machines that have them), and lists the
// virtio-blk PCI functions. Call Init first.
func Open() (*Board, error) {
	b := &Board{Platform: platform()}
	cmdline, err := readCmdline()
	if err != nil {
		return nil, err
	}
	b.DMA, err = openDMA(cmdline)
	if err != nil {
		return nil, err
	}
	// Only some machines have virtio-mmio slots there; elsewhere that
	// address may be a PCI BAR whose registers have side effects on read.
	if hasMMIO(b.Platform) {
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

// Close unmaps everything Open mapped. The board's Regs and DMA memory
// must not be used afterwards.
func (b *Board) Close() error {
	errs := []error{b.mmioMap.close()}
	if b.DMA != nil {
		errs = append(errs, b.DMA.Close())
	}
	for _, d := range b.PCI {
		errs = append(errs, d.Close())
	}
	b.PCI, b.MMIO, b.DMA = nil, nil, nil
	return errors.Join(errs...)
}
