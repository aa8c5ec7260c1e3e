package tamago

import (
	"errors"
	"fmt"

	"github.com/tamaswap/tamaswap/board/pcie"
	"github.com/tamaswap/tamaswap/drivers/virtioblk"
	"github.com/tamaswap/tamaswap/virtio"
)

// Machine is where a virtual machine's virtio devices are: virtio-mmio
// slots, a PCI Express bus, or both.
type Machine struct {
	// Board is the upstream TamaGo board package the machine goes with.
	Board string

	// MMIOSlots virtio-mmio register windows (virtio 1.2 §4.2.2) of
	// MMIOSlotSize bytes each start at MMIOBase. MMIOTopDown probes
	// them from the last one, for VMMs that fill the slots from the
	// top, so that disks come in the order of the VMM's command line.
	MMIOBase     uint64
	MMIOSlotSize uint32
	MMIOSlots    int
	MMIOTopDown  bool

	// ECAMBase, when not 0, is bus 0's PCI Express configuration space
	// (ECAM). The BARs of the virtio functions found there are placed,
	// each naturally aligned, in [PCIMemBase, PCIMemBase+PCIMemSize):
	// an address range the VMM lets the guest move BARs to and that the
	// program can reach. Other functions are left as they are.
	ECAMBase               uint64
	PCIMemBase, PCIMemSize uint64

	// MapMem returns register access to size bytes at physical address
	// addr. When nil, the platform's own is used: identity-mapped
	// memory-mapped I/O under GOOS=tamago on amd64 (board/x86.MMIO).
	MapMem func(addr uint64, size uint32) virtio.Regs
}

// The machines of upstream TamaGo's amd64 boards. They are built against
// those boards in this module's tests, not booted: the boards need KVM.
var (
	// Firecracker is board/firecracker/microvm. Firecracker's x86_64
	// layout starts its 32-bit MMIO gap at 0xc0000000, a page for its
	// boot timer, then virtio-mmio devices in 4 KiB slots: block devices
	// first, in the order of the VM configuration's "drives", then
	// network and other devices (upstream's board expects its network
	// device at 0xc0002000, behind one drive). This is Firecracker
	// without PCI: with --enable-pci its devices are virtio-pci functions
	// whose BARs lie above 256 GiB, beyond what TamaGo maps.
	Firecracker = Machine{
		Board:        "github.com/usbarmory/tamago/board/firecracker/microvm",
		MMIOBase:     0xc0001000,
		MMIOSlotSize: 0x1000,
		MMIOSlots:    32,
	}

	// CloudHypervisor is board/cloud_hypervisor/vm, run as its
	// documentation shows (--memory size=4096M). Cloud Hypervisor's
	// devices are virtio-pci functions on bus 0 behind its ECAM window
	// at 0xe8000000. It gives their 64-bit BARs addresses in its 64-bit
	// device range above guest RAM, handed out from the top, beyond what
	// TamaGo maps (up to 6 GiB), and honours a guest moving them; the
	// upstream board moves its network device's BAR to 0x140000000, the
	// bottom of that range with 4 GiB of RAM. The block devices' BARs go
	// 256 MiB above that. With more than 4 GiB of RAM, PCIMemBase must
	// move up by as much, and the window stay below 0x180000000. This
	// layout is read from Cloud Hypervisor's sources and upstream's
	// board; it is exercised against a model, not a Cloud Hypervisor.
	CloudHypervisor = Machine{
		Board:      "github.com/usbarmory/tamago/board/cloud_hypervisor/vm",
		ECAMBase:   0xe8000000,
		PCIMemBase: 0x150000000,
		PCIMemSize: 0x30000000,
	}

	// QEMUMicrovm is board/qemu/microvm: QEMU's microvm machine (QEMU
	// 7.2 hw/i386/microvm.c), 24 virtio-mmio slots of 0x200 bytes from
	// 0xfeb00000, filled from the last. The board needs KVM (under TCG it
	// panics setting its timer); this module's own board/microvm is the
	// one that boots under TCG.
	QEMUMicrovm = Machine{
		Board:        "github.com/usbarmory/tamago/board/qemu/microvm",
		MMIOBase:     0xfeb00000,
		MMIOSlotSize: 0x200,
		MMIOSlots:    24,
		MMIOTopDown:  true,
	}
)

// ErrNoRegisterAccess is returned when a Machine has no MapMem and the
// platform has no register access of its own (anything but GOOS=tamago on
// amd64).
var ErrNoRegisterAccess = errors.New("tamago: no register access on this platform: set Machine.MapMem")

// virtioVendor is the PCI vendor ID of virtio devices (virtio 1.2 §4.1.2).
const virtioVendor = 0x1af4

func (m Machine) mapMem() func(addr uint64, size uint32) virtio.Regs {
	if m.MapMem != nil {
		return m.MapMem
	}
	return physMem
}

// Transports returns the virtio devices of type devType (virtio 1.2 §5:
// 2 for block), virtio-mmio ones first, then PCI ones, each in the VMM's
// order. Probing reads registers only; on PCI it also places the BARs of
// the virtio functions of that type. Devices that are there but cannot be
// set up are reported in err, each by its address; the others are still
// returned.
func (m Machine) Transports(devType uint32) ([]virtio.Transport, error) {
	mapMem := m.mapMem()
	if mapMem == nil {
		return nil, ErrNoRegisterAccess
	}
	var ts []virtio.Transport
	var errs []error
	for i := range m.MMIOSlots {
		slot := i
		if m.MMIOTopDown {
			slot = m.MMIOSlots - 1 - i
		}
		addr := m.MMIOBase + uint64(slot)*uint64(m.MMIOSlotSize)
		t, err := virtio.NewMMIO(mapMem(addr, m.MMIOSlotSize))
		switch {
		case errors.Is(err, virtio.ErrNoDevice):
		case err != nil:
			errs = append(errs, fmt.Errorf("virtio-mmio at %#x: %w", addr, err))
		case t.DeviceID() == devType:
			ts = append(ts, t)
		}
	}
	if m.ECAMBase != 0 {
		pts, err := m.pciTransports(mapMem, devType)
		ts = append(ts, pts...)
		errs = append(errs, err)
	}
	return ts, errors.Join(errs...)
}

func (m Machine) pciTransports(mapMem func(uint64, uint32) virtio.Regs, devType uint32) ([]virtio.Transport, error) {
	host := &pcie.Host{
		ECAMBase: m.ECAMBase,
		Buses:    1,
		MemBase:  m.PCIMemBase,
		MemSize:  m.PCIMemSize,
		MapMem:   mapMem,
		Assign: func(vendor, device uint16) bool {
			return vendor == virtioVendor && pciDeviceType(device) == devType
		},
	}
	fns, err := host.Scan()
	if err != nil {
		return nil, err
	}
	var ts []virtio.Transport
	var errs []error
	for _, f := range fns {
		if f.VendorID != virtioVendor || pciDeviceType(f.DeviceID) != devType {
			continue
		}
		t, err := virtio.NewPCI(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("pci %v: %w", f, err))
			continue
		}
		ts = append(ts, t)
	}
	return ts, errors.Join(errs...)
}

// pciDeviceType is the virtio device type of a PCI device ID: 0x1040 plus
// the type for modern devices (virtio 1.2 §4.1.2), the transitional IDs of
// §4.1.2.1 for the older ones; 0 for anything else.
func pciDeviceType(id uint16) uint32 {
	switch {
	case id >= 0x1040 && id <= 0x107f:
		return uint32(id - 0x1040)
	case id == 0x1000:
		return 1 // network
	case id == 0x1001:
		return virtioblk.DeviceID
	}
	return 0
}

// OpenDisks starts a virtioblk.Device on every virtio block device of the
// machine, with rings and bounce buffers from dma, and returns them in the
// VMM's order. Devices that fail are reported in err, each by its
// transport; the others are still returned, ready for use.
func (m Machine) OpenDisks(dma virtio.DMA) ([]*virtioblk.Device, error) {
	ts, err := m.Transports(virtioblk.DeviceID)
	errs := []error{err}
	var disks []*virtioblk.Device
	for i, t := range ts {
		d, err := virtioblk.New(t, dma)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s block device %d: %w", t.Name(), i, err))
			continue
		}
		disks = append(disks, d)
	}
	return disks, errors.Join(errs...)
}
