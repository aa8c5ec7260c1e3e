//go:build linux

package hosted

import (
	"fmt"
	"os"
	"strings"

	"github.com/tamaswap/tamaswap/board/x86"
	"github.com/tamaswap/tamaswap/virtio"
)

// ConsoleTTY is the serial console's device: COM1.
const ConsoleTTY = "/dev/ttyS0"

// QEMU microvm's virtio-mmio transports: 24 slots of 512 bytes from
// 0xfeb00000 (hw/i386/microvm.h: VIRTIO_MMIO_BASE, VIRTIO_NUM_TRANSPORTS).
// QEMU plugs -device virtio-*-device into the free slot with the highest
// number first, so the first disk on the command line sits in slot 23.
const (
	MMIOBase     = 0xfeb00000
	MMIOSlotSize = 0x200
	MMIOSlots    = 24
)

// Window is a register region mapped into this process: a virtio-mmio
// slot or a PCI memory BAR. It is board/x86's MMIO window (single accesses
// of each width, all ones outside the window) over the mapping.
type Window = x86.MMIO

// newWindow returns the window of size bytes at offset off of a mapping.
func newWindow(m []byte, off int, size uint32) (*Window, error) {
	w, err := window(m, off, size)
	if err != nil {
		return nil, err
	}
	return x86.NewMMIOMapping(w, 0), nil
}

// hasMMIO reports whether the machine has virtio-mmio slots at MMIOBase:
// only microvm; on q35 that address may be a PCI BAR.
func hasMMIO(platform string) bool { return platform == "microvm" }

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

// physDMA is the memmap= range, mapped through /dev/mem.
type physDMA struct {
	*virtio.Region
	r DMARange
	m *physMapping
}

func (d *physDMA) String() string { return fmt.Sprintf("memmap range %#x+%#x", d.r.Addr, d.r.Size) }
func (d *physDMA) Close() error   { return d.m.close() }

// openDMA maps the DMA range the kernel command line reserves
// (memmap=SIZE$ADDR: RAM the kernel leaves alone, so its physical address
// is known and stays ours) through /dev/mem, write-back: QEMU's view of
// guest RAM is coherent.
func openDMA(cmdline string) (dmaMemory, error) {
	r, err := parseDMARange(cmdline)
	if err != nil {
		return nil, err
	}
	if r.Size > 1<<40 {
		return nil, fmt.Errorf("hosted: DMA range of %#x bytes is too large", r.Size)
	}
	m, err := mapPhys(r.Addr, int(r.Size), false)
	if err != nil {
		return nil, err
	}
	region, err := virtio.NewRegion(m.bytes(), r.Addr)
	if err != nil {
		m.close()
		return nil, err
	}
	return &physDMA{Region: region, r: r, m: m}, nil
}
