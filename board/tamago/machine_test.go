package tamago_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/board/tamago"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// space is a fake physical address space: register windows at addresses.
type space map[uint64]virtio.Regs

func (s space) mapMem(addr uint64, size uint32) virtio.Regs {
	if r, ok := s[addr]; ok {
		return r
	}
	return unclaimed{}
}

// fakeMMIO is a virtio-mmio window (version 2) of a device of type id
// whose other registers read 0: a network device, or, with id 2, a block
// device that never accepts the driver's features.
type fakeMMIO struct {
	unclaimed
	id uint32
}

func (f fakeMMIO) Read32(off uint32) uint32 {
	switch off {
	case 0x000:
		return 0x74726976
	case 0x004:
		return 2
	case 0x008:
		return f.id
	}
	return 0
}

func model(t *testing.T, tr virtiotest.Transport, serial string) *virtiotest.Device {
	t.Helper()
	m, err := virtiotest.New(virtiotest.Config{Transport: tr, Serial: serial})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func serials(ts []virtio.Transport, models map[virtio.Transport]string) string {
	var s []string
	for _, tr := range ts {
		s = append(s, models[tr])
	}
	return strings.Join(s, " ")
}

// TestMMIOOrder: block devices come in slot order, bottom-up or top-down
// as the machine says; other device types and empty slots are skipped.
func TestMMIOOrder(t *testing.T) {
	a, b := model(t, virtiotest.MMIOModern, "a"), model(t, virtiotest.MMIOLegacy, "b")
	for _, tc := range []struct {
		m    tamago.Machine
		want string
	}{
		{tamago.Firecracker, "a b"},
		{tamago.QEMUMicrovm, "b a"},
	} {
		m := tc.m
		slot := func(i int) uint64 { return m.MMIOBase + uint64(i)*uint64(m.MMIOSlotSize) }
		s := space{slot(0): a.MMIO(), slot(1): fakeMMIO{id: 1}, slot(3): b.MMIO()}
		m.MapMem = s.mapMem
		ts, err := m.Transports(2)
		if err != nil {
			t.Fatalf("%s: %v", m.Board, err)
		}
		names := map[virtio.Transport]string{}
		for _, tr := range ts {
			// Tell the models apart by their legacy bit.
			names[tr] = map[bool]string{false: "a", true: "b"}[tr.Legacy()]
		}
		if got := serials(ts, names); got != tc.want {
			t.Errorf("%s: block devices %q, want %q", m.Board, got, tc.want)
		}
		nets, _ := m.Transports(1)
		if len(nets) != 1 {
			t.Errorf("%s: %d network devices, want 1", m.Board, len(nets))
		}
	}
}

func TestNoRegisterAccess(t *testing.T) {
	if _, err := tamago.Firecracker.Transports(2); !errors.Is(err, tamago.ErrNoRegisterAccess) {
		t.Fatalf("without MapMem on the host: %v, want ErrNoRegisterAccess", err)
	}
}

// TestOpenDisksMMIO: the disk OpenDisks returns passes the block
// conformance suite.
func TestOpenDisksMMIO(t *testing.T) {
	a := model(t, virtiotest.MMIOModern, "a")
	m := tamago.Firecracker
	m.MapMem = space{m.MMIOBase: a.MMIO()}.mapMem
	disks, err := m.OpenDisks(a.DMA())
	if err != nil || len(disks) != 1 {
		t.Fatalf("OpenDisks: %d disks, %v", len(disks), err)
	}
	if err := blocktest.TestDevice(disks[0]); err != nil {
		t.Error(err)
	}
	if err := blocktest.TestDisconnect(disks[0]); err != nil {
		t.Error(err)
	}
}

// TestOpenDisksReportsFailures: a device that cannot start is reported
// and the others are still returned.
func TestOpenDisksReportsFailures(t *testing.T) {
	a := model(t, virtiotest.MMIOModern, "a")
	m := tamago.QEMUMicrovm
	top := m.MMIOBase + uint64(m.MMIOSlots-1)*uint64(m.MMIOSlotSize)
	m.MapMem = space{top: a.MMIO(), m.MMIOBase: fakeMMIO{id: 2}}.mapMem
	disks, err := m.OpenDisks(a.DMA())
	if len(disks) != 1 || err == nil || !strings.Contains(err.Error(), "mmio block device 1") {
		t.Fatalf("OpenDisks: %d disks, err %v; want 1 disk and an error naming block device 1", len(disks), err)
	}
	t.Log(err)
	disks[0].Disconnect()
}

// ecam routes bus 0 device dev's configuration space to a model and its
// BAR4, wherever the configuration space says it now is, to the model's
// BAR4: a PCI device as Cloud Hypervisor presents it.
type ecam struct {
	base uint64
	dev  uint64
	fn   virtio.PCIFunction
}

func (e ecam) mapMem(addr uint64, size uint32) virtio.Regs {
	if addr == e.base+e.dev<<15 {
		return e.fn.Config()
	}
	if addr >= e.base && addr < e.base+1<<20 {
		return absent{}
	}
	cfg := e.fn.Config()
	bar4 := uint64(cfg.Read32(0x20)&^0xf) | uint64(cfg.Read32(0x24))<<32
	if addr == bar4 {
		r, err := e.fn.BAR(4)
		if err == nil {
			return r
		}
	}
	return unclaimed{}
}

// absent is an empty ECAM slot: all ones.
type absent struct{ unclaimed }

func (absent) Read16(uint32) uint16 { return 0xffff }
func (absent) Read32(uint32) uint32 { return 0xffffffff }

// TestCloudHypervisorPCI: the block device's 64-bit BAR moves into the
// machine's window above 4 GiB, and the disk works from there.
func TestCloudHypervisorPCI(t *testing.T) {
	d := model(t, virtiotest.PCIModern, "ch")
	m := tamago.CloudHypervisor
	e := ecam{base: m.ECAMBase, dev: 3, fn: d.PCI()}
	m.MapMem = e.mapMem
	disks, err := m.OpenDisks(d.DMA())
	if err != nil || len(disks) != 1 {
		t.Fatalf("OpenDisks: %d disks, %v", len(disks), err)
	}
	cfg := d.PCI().Config()
	var bar [8]byte
	binary.LittleEndian.PutUint32(bar[:], cfg.Read32(0x20)&^0xf)
	binary.LittleEndian.PutUint32(bar[4:], cfg.Read32(0x24))
	if at := binary.LittleEndian.Uint64(bar[:]); at < m.PCIMemBase || at >= m.PCIMemBase+m.PCIMemSize {
		t.Errorf("BAR4 at %#x, outside [%#x, %#x)", at, m.PCIMemBase, m.PCIMemBase+m.PCIMemSize)
	}
	if err := blocktest.TestDevice(disks[0]); err != nil {
		t.Error(err)
	}
	disks[0].Disconnect()
}
