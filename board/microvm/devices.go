//go:build tamago && amd64

package microvm

import (
	"errors"

	"github.com/tamaswap/tamaswap/board/pcie"
	"github.com/tamaswap/tamaswap/board/x86"
	"github.com/tamaswap/tamaswap/virtio"
)

// Platform names the machine in the shell's banner.
const Platform = "microvm"

// virtio device type of a block device (virtio 1.2 §5).
const virtioBlock = 2

// DMAPoolSize is the DMA pool the board carves from the heap at init:
// every disk's rings, request headers and bounce budget (about 2.1 MiB
// a disk), and the buffers drivers and programs ask for with
// AllocBuffer (the swap manager's stream and I/O buffers, 4 to 6 MiB
// each, the workloads' own). When it is used up AllocBuffer fails and
// the swap manager falls back to plain heap buffers, which on this
// board are zero copy too.
const DMAPoolSize = 24 << 20

var dma *x86.HeapDMA

// DMA is the memory virtio devices reach: any buffer on the Go heap,
// zero copy, and for the drivers' own buffers a pool of DMAPoolSize
// carved from the heap at init (see package heapdma).
func DMA() *x86.HeapDMA { return dma }

// MMIOTransports probes the virtio-mmio slots (virtio 1.2 §4.2.2: magic
// value, version, device ID) and returns the devices of type devType in
// the order of QEMU's command line: QEMU fills the slots from the last
// (23) down, so that is the order they are probed in. Nothing but
// registers is read.
func MMIOTransports(devType uint32) []virtio.Transport {
	var ts []virtio.Transport
	for i := VirtioMMIOSlots - 1; i >= 0; i-- {
		slot := func(int) virtio.Regs {
			return x86.NewMMIO(VirtioMMIOBase+uint64(i)*VirtioMMIOSlotSize, VirtioMMIOSlotSize)
		}
		for _, t := range virtio.MMIOSlots(1, slot, devType) {
			wires.add(t, wire{slot: i})
			ts = append(ts, t)
		}
	}
	return ts
}

// PCIeHost is microvm's PCI Express host bridge (QEMU's gpex, present
// with -M microvm,pcie=on). It has ECAM and memory windows but no I/O
// window, so transitional devices' legacy I/O BARs stay unassigned.
func PCIeHost() *pcie.Host {
	return &pcie.Host{
		ECAMBase: PCIeECAMBase,
		Buses:    PCIeECAMSize >> 20,
		MemBase:  PCIeMMIOBase,
		MemSize:  PCIeMMIOSize,
		MapMem: func(addr uint64, size uint32) virtio.Regs {
			return x86.NewMMIO(addr, size)
		},
	}
}

// hasPCIe reports whether the ECAM window answers: without pcie=on
// nothing is mapped there and reads return all ones.
func hasPCIe() bool {
	return x86.NewMMIO(PCIeECAMBase, 4).Read32(0) != 0xffffffff
}

// PCITransports enumerates the PCIe bus, assigning BARs, and returns the
// virtio devices of type devType in bus order (QEMU's command-line order).
// Virtio functions that could not be set up are reported in err, each
// naming its function; the others are still returned.
func PCITransports(devType uint32) (ts []virtio.Transport, err error) {
	if !hasPCIe() {
		return nil, nil
	}
	fns, err := PCIeHost().Scan()
	if err != nil {
		return nil, err
	}
	// One function at a time, to know which transport is whose (for
	// its interrupt).
	var errs []error
	for _, f := range fns {
		fts, err := pcie.VirtioTransports([]*pcie.Function{f}, devType)
		for _, t := range fts {
			wires.add(t, wire{slot: -1, fn: f})
			ts = append(ts, t)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return ts, errors.Join(errs...)
}

// BlockTransports returns every virtio block device: virtio-mmio ones
// first, then PCI ones, each in command-line order.
func BlockTransports() ([]virtio.Transport, error) {
	ts := MMIOTransports(virtioBlock)
	pts, err := PCITransports(virtioBlock)
	return append(ts, pts...), err
}
