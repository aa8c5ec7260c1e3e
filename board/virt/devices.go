//go:build tamago && arm64

package virt

import (
	"errors"

	"github.com/tamaswap/tamaswap/board/arm64"
	"github.com/tamaswap/tamaswap/board/heapdma"
	"github.com/tamaswap/tamaswap/board/pcie"
	"github.com/tamaswap/tamaswap/virtio"
)

// virtio device type of a block device (virtio 1.2 §5).
const virtioBlock = 2

// DMAPoolSize is the DMA pool the board carves from the heap at init
// (see board/microvm's, whose figures are the same).
const DMAPoolSize = 24 << 20

var dma *heapdma.HeapDMA

// DMA is the memory virtio devices reach: any buffer on the Go heap,
// zero copy, and for the drivers' own buffers a pool of DMAPoolSize
// carved from the heap at init (see package heapdma). It is Normal
// cacheable memory in TamaGo's flat mapping (memory outside the
// runtime's RAM is mapped as Device memory, so DMA memory must lie
// inside it), and QEMU's device models are coherent with it.
func DMA() *heapdma.HeapDMA { return dma }

// MMIOTransports probes the virtio-mmio transports (virtio 1.2 §4.2.2:
// magic value, version, device ID) and returns the devices of type
// devType in the order of QEMU's command line: QEMU fills the slots from
// the last (31) down, so that is the order they are probed in. Nothing but
// registers is read.
// Each transport's interrupt line (VirtioMMIOIRQ + slot) is noted for
// DiskInterrupt.
func MMIOTransports(devType uint32) []virtio.Transport {
	var ts []virtio.Transport
	for i := VirtioMMIOSlots - 1; i >= 0; i-- {
		regs := arm64.NewMMIO(VirtioMMIOBase+uint64(i)*VirtioMMIOSlotSize, VirtioMMIOSlotSize)
		for _, t := range virtio.MMIOSlots(1, func(int) virtio.Regs { return regs }, devType) {
			noteLine(t, VirtioMMIOIRQ+i)
			ts = append(ts, t)
		}
	}
	return ts
}

// PCIeHost is virt's PCI Express host bridge. Unlike microvm's it has an
// I/O window (memory-mapped, PCI I/O address 0 at PCIePIOBase), so
// transitional devices' legacy I/O BARs get ports too; port numbers start
// at 0x1000, above the legacy ISA range.
func PCIeHost() *pcie.Host {
	return &pcie.Host{
		ECAMBase: PCIeECAMBase,
		Buses:    PCIeECAMSize >> 20,
		MemBase:  PCIeMMIOBase,
		MemSize:  PCIeMMIOSize,
		IOBase:   0x1000,
		IOSize:   PCIePIOSize - 0x1000,
		MapMem: func(addr uint64, size uint32) virtio.Regs {
			return arm64.NewMMIO(addr, size)
		},
		MapIO: func(port uint16, size uint32) virtio.Regs {
			return arm64.NewMMIO(PCIePIOBase+uint64(port), size)
		},
	}
}

// PCITransports enumerates the PCIe bus, assigning BARs, and returns the
// virtio devices of type devType in bus order (QEMU's command-line order).
// Each function's INTx line (PCI 3.0 6.2.4, Interrupt Pin; the host
// bridge's swizzle) is noted for DiskInterrupt: the functions sit on the
// root bus, so device slot s's pin p (1 for INTA) is SPI 3 + (s + p - 1)
// mod 4. MSI-X stays off: virtio-pci then signals used buffers on INTx
// (virtio 1.2 4.1.4.5).
func PCITransports(devType uint32) ([]virtio.Transport, error) {
	fns, err := PCIeHost().Scan()
	if err != nil {
		return nil, err
	}
	var ts []virtio.Transport
	var errs []error
	for _, f := range fns {
		fts, err := pcie.VirtioTransports([]*pcie.Function{f}, devType)
		errs = append(errs, err)
		pin := f.Config().Read8(pciInterruptPin)
		for _, t := range fts {
			if f.Bus == 0 && pin >= 1 && pin <= 4 {
				noteLine(t, PCIeINTxIRQ+(int(f.Device)+int(pin)-1)%4)
				// Command register bit 10, Interrupt Disable: INTx
				// must be allowed.
				cmd := f.Config().Read16(pciCommand)
				if cmd&pciIntxDisable != 0 {
					f.Config().Write16(pciCommand, cmd&^pciIntxDisable)
				}
			}
			ts = append(ts, t)
		}
	}
	return ts, errors.Join(errs...)
}

// PCI configuration space (PCI Local Bus 3.0 6.1).
const (
	pciCommand      = 0x04
	pciIntxDisable  = 1 << 10
	pciInterruptPin = 0x3d
)

func noteLine(t virtio.Transport, id int) {
	lineMu.Lock()
	lineOf[t] = id
	lineMu.Unlock()
}

// BlockTransports returns every virtio block device: virtio-mmio ones
// first, then PCI ones, each in command-line order.
func BlockTransports() ([]virtio.Transport, error) {
	ts := MMIOTransports(virtioBlock)
	pts, err := PCITransports(virtioBlock)
	return append(ts, pts...), err
}
