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

	// MMIOGSIBase, when not 0, is the global system interrupt (GSI: an
	// I/O APIC input) that MMIO slot 0 raises; slot n raises
	// MMIOGSIBase+n. MMIOGSIFromCmdline says instead that the VMM names
	// each device's GSI on the kernel command line it hands the guest
	// (virtio_mmio.device=SIZE@ADDR:GSI, read by BootCmdline).
	MMIOGSIBase        int
	MMIOGSIFromCmdline bool
	// IOAPICs are the machine's I/O APICs, each at its register window
	// with the GSI of its first input.
	IOAPICs []IOAPIC
	// PCIMSIX says that the VMM's virtio-pci functions interrupt by
	// MSI-X and have no INTx line.
	PCIMSIX bool

	// MapMem returns register access to size bytes at physical address
	// addr. When nil, the platform's own is used: identity-mapped
	// memory-mapped I/O under GOOS=tamago on amd64 (board/x86.MMIO).
	MapMem func(addr uint64, size uint32) virtio.Regs
}

// IOAPIC is where an I/O APIC is (Intel 82093AA datasheet §3.0: a
// register window of IOREGSEL and IOWIN) and the GSI of its input 0.
type IOAPIC struct {
	// Base is the physical address of its register window.
	Base uint64
	// GSIBase is the GSI of its input 0.
	GSIBase int
}

// ioapicWindow is the size of an I/O APIC's register window.
const ioapicWindow = 0x20

// KVM's in-kernel I/O APIC, which Firecracker and Cloud Hypervisor use,
// and QEMU's first one: 24 inputs at the architectural default address
// (QEMU include/hw/i386/x86.h IO_APIC_DEFAULT_ADDRESS, Firecracker
// src/vmm/src/arch/x86_64/layout.rs IOAPIC_ADDR).
var ioapic0 = IOAPIC{Base: 0xfec00000}

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
	//
	// Each virtio-mmio device raises its own legacy GSI from 5 up
	// (src/vmm/src/arch/x86_64/layout.rs: GSI_LEGACY_START 5 to
	// GSI_LEGACY_END 23, formerly IRQ_BASE and IRQ_MAX), edge
	// triggered through an irqfd, handed out in the order devices are
	// created; which comes first has changed across releases (newer
	// ones give the VMGenID and VMClock ACPI devices theirs before any
	// virtio device), so the GSIs are read from the kernel command line
	// Firecracker writes, one virtio_mmio.device=4K@ADDR:GSI per device
	// (src/vmm/src/device_manager/mmio.rs, register_mmio_virtio_for_boot).
	Firecracker = Machine{
		Board:              "github.com/usbarmory/tamago/board/firecracker/microvm",
		MMIOBase:           0xc0001000,
		MMIOSlotSize:       0x1000,
		MMIOSlots:          32,
		MMIOGSIFromCmdline: true,
		IOAPICs:            []IOAPIC{ioapic0},
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
	//
	// Its virtio-pci functions interrupt by MSI-X: each gets an MSI-X
	// table of one entry per queue plus one for configuration changes,
	// behind an interrupt manager of MSI groups only (vmm/src/
	// device_manager.rs, add_virtio_pci_device: msix_num =
	// queue_max_sizes().len() + 1, InterruptManager<GroupConfig =
	// MsiIrqGroupConfig>). The table sits in the same 64-bit BAR 0 as
	// the virtio structures (virtio-devices/src/transport/
	// pci_device.rs: MSIX_TABLE_BAR_OFFSET 0x8000 in
	// VIRTIO_COMMON_BAR_INDEX), so it moves into PCIMem with them.
	CloudHypervisor = Machine{
		Board:      "github.com/usbarmory/tamago/board/cloud_hypervisor/vm",
		ECAMBase:   0xe8000000,
		PCIMemBase: 0x150000000,
		PCIMemSize: 0x30000000,
		IOAPICs:    []IOAPIC{ioapic0},
		PCIMSIX:    true,
	}

	// QEMUMicrovm is board/qemu/microvm: QEMU's microvm machine (QEMU
	// 7.2 hw/i386/microvm.c), 24 virtio-mmio slots of 0x200 bytes from
	// 0xfeb00000, filled from the last. The board needs KVM (under TCG it
	// panics setting its timer); this module's own board/microvm is the
	// one that boots under TCG.
	//
	// With its defaults (acpi=on, ioapic2=auto) QEMU's microvm has a
	// second I/O APIC at 0xfec10000 for GSIs 24-47, and slot n raises
	// GSI 24+n (microvm.c, microvm_devices_init: virtio_irq_base =
	// IO_APIC_SECONDARY_IRQBASE), as on this module's board/microvm.
	QEMUMicrovm = Machine{
		Board:        "github.com/usbarmory/tamago/board/qemu/microvm",
		MMIOBase:     0xfeb00000,
		MMIOSlotSize: 0x200,
		MMIOSlots:    24,
		MMIOTopDown:  true,
		MMIOGSIBase:  24,
		IOAPICs:      []IOAPIC{ioapic0, {Base: 0xfec10000, GSIBase: 24}},
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
	fs, err := m.probe(devType)
	var ts []virtio.Transport
	for _, f := range fs {
		ts = append(ts, f.t)
	}
	return ts, err
}

// found is a probed device and where it is.
type found struct {
	t    virtio.Transport
	addr uint64         // virtio-mmio: its window
	slot int            // virtio-mmio: its slot; -1 on PCI
	fn   *pcie.Function // PCI: its function
}

func (m Machine) probe(devType uint32) ([]found, error) {
	mapMem := m.mapMem()
	if mapMem == nil {
		return nil, ErrNoRegisterAccess
	}
	var fs []found
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
			fs = append(fs, found{t: t, addr: addr, slot: slot})
		}
	}
	if m.ECAMBase != 0 {
		pfs, err := m.pciProbe(mapMem, devType)
		fs = append(fs, pfs...)
		errs = append(errs, err)
	}
	return fs, errors.Join(errs...)
}

func (m Machine) pciProbe(mapMem func(uint64, uint32) virtio.Regs, devType uint32) ([]found, error) {
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
	var fs []found
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
		fs = append(fs, found{t: t, slot: -1, fn: f})
	}
	return fs, errors.Join(errs...)
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
// transport; the others are still returned, ready for use. They poll;
// Open returns them with their interrupts, for Route.
func (m Machine) OpenDisks(dma virtio.DMA) ([]*virtioblk.Device, error) {
	ds, err := m.open(dma, false)
	var devs []*virtioblk.Device
	for _, d := range ds {
		devs = append(devs, d.Device)
	}
	return devs, err
}

// Disk is one of a machine's virtio-blk disks and where its completion
// interrupt comes from. It polls until it is routed (Route) and switched
// to interrupts (UseInterrupts).
type Disk struct {
	*virtioblk.Device
	// GSI is the I/O APIC input a virtio-mmio disk raises; -1 when the
	// machine names none (a PCI disk, or a slot the VMM did not say).
	GSI int

	fn    *pcie.Function // a PCI disk's function
	route route          // set by Route (irq_amd64.go)
}

// Open is OpenDisks with each disk's interrupt: see Disk. The GSIs of a
// machine that names them on the kernel command line are read from it
// (BootCmdline); when it cannot be read, err says so and the disks poll.
func (m Machine) Open(dma virtio.DMA) ([]*Disk, error) { return m.open(dma, true) }

func (m Machine) open(dma virtio.DMA, lines bool) ([]*Disk, error) {
	fs, err := m.probe(virtioblk.DeviceID)
	errs := []error{err}
	var gsis map[uint64]int
	if lines {
		gsis, err = m.mmioGSIs()
		errs = append(errs, err)
	}
	var disks []*Disk
	for i, f := range fs {
		d, err := virtioblk.New(f.t, dma)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s block device %d: %w", f.t.Name(), i, err))
			continue
		}
		disk := &Disk{Device: d, GSI: -1, fn: f.fn}
		switch {
		case f.fn != nil:
		case gsis != nil:
			if g, ok := gsis[f.addr]; ok {
				disk.GSI = g
			}
		case lines && m.MMIOGSIBase != 0:
			disk.GSI = m.MMIOGSIBase + f.slot
		}
		disks = append(disks, disk)
	}
	return disks, errors.Join(errs...)
}

// mmioGSIs returns the GSI of each virtio-mmio window the kernel command
// line names, for a machine that names them there; nil otherwise.
func (m Machine) mmioGSIs() (map[uint64]int, error) {
	if !m.MMIOGSIFromCmdline || m.MMIOSlots == 0 {
		return nil, nil
	}
	cmdline, err := m.BootCmdline()
	if err != nil {
		return nil, fmt.Errorf("tamago: virtio-mmio interrupts: %w (the disks poll)", err)
	}
	return VirtioMMIODevices(cmdline), nil
}
