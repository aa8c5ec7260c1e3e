//go:build linux

package hosted

import (
	"os"
	"strings"

	"github.com/tamaswap/tamaswap/board/arm64"
)

// ConsoleTTY is the serial console's device: virt's PL011.
const ConsoleTTY = "/dev/ttyAMA0"

// QEMU virt's virtio-mmio transports: 32 slots of 512 bytes from
// 0x0a000000 (hw/arm/virt.c: VIRT_MMIO, NUM_VIRTIO_TRANSPORTS). QEMU plugs
// -device virtio-*-device into the free slot with the highest number
// first, so the first disk on the command line sits in slot 31.
const (
	MMIOBase     = 0x0a000000
	MMIOSlotSize = 0x200
	MMIOSlots    = 32
)

// Window is a register region mapped into this process: a virtio-mmio
// slot or a PCI memory BAR. It is board/arm64's MMIO window (single
// accesses of each width with the barriers Device memory needs, all ones
// outside the window) over the mapping.
type Window = arm64.MMIO

// newWindow returns the window of size bytes at offset off of a mapping.
func newWindow(m []byte, off int, size uint32) (*Window, error) {
	w, err := window(m, off, size)
	if err != nil {
		return nil, err
	}
	return arm64.NewMMIOMapping(w, 0), nil
}

// hasMMIO reports whether the machine has virtio-mmio slots at MMIOBase.
func hasMMIO(platform string) bool { return platform == "virt" }

// platform names the QEMU machine from the device tree's root
// compatible string: virt's is "linux,dummy-virt".
func platform() string {
	b, err := os.ReadFile("/sys/firmware/devicetree/base/compatible")
	if err != nil {
		return "unknown"
	}
	if strings.Contains(string(b), "linux,dummy-virt") {
		return "virt"
	}
	name, _, _ := strings.Cut(string(b), "\x00")
	return name
}

// openDMA takes DMA memory from the hugepages the kernel command line
// reserves (hugepages=N, 2 MiB each; see hugeDMA). arm64 Linux maps RAM
// it does not own (removed with mem=) through /dev/mem as Device memory,
// where unaligned accesses and DC ZVA fault: never DMA memory.
func openDMA(string) (dmaMemory, error) { return openHugeDMA(hugePageSize) }
