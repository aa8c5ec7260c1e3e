//go:build amd64

package tamago_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tamaswap/tamaswap/board/tamago"
	"github.com/tamaswap/tamaswap/board/x86"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// ioapicModel is an I/O APIC's register window (82093AA §3.0): IOREGSEL
// at 0x00 selects, IOWIN at 0x10 reads and writes the selected register;
// every redirection entry starts masked. Raise delivers a GSI as the
// chip would: through its entry, unless masked, to deliver.
type ioapicModel struct {
	unclaimed
	mu      sync.Mutex
	gsiBase int
	sel     uint32
	entries [24]uint64
	deliver func(vector int)
}

func newIOAPIC(gsiBase int) *ioapicModel {
	a := &ioapicModel{gsiBase: gsiBase}
	for i := range a.entries {
		a.entries[i] = 1 << 16
	}
	return a
}

func (a *ioapicModel) Read32(off uint32) uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case off == 0:
		return a.sel
	case off != 0x10:
		return 0
	case a.sel == 0x01:
		return uint32(len(a.entries)-1)<<16 | 0x20
	case a.sel >= 0x10 && a.sel < 0x10+2*uint32(len(a.entries)):
		e := a.entries[(a.sel-0x10)/2]
		if a.sel&1 == 1 {
			return uint32(e >> 32)
		}
		return uint32(e)
	}
	return 0
}

func (a *ioapicModel) Write32(off uint32, v uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if off == 0 {
		a.sel = v
		return
	}
	if off != 0x10 || a.sel < 0x10 || a.sel >= 0x10+2*uint32(len(a.entries)) {
		return
	}
	e := &a.entries[(a.sel-0x10)/2]
	if a.sel&1 == 1 {
		*e = *e&0xffffffff | uint64(v)<<32
	} else {
		*e = *e&^0xffffffff | uint64(v)
	}
}

func (a *ioapicModel) entry(gsi int) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.entries[gsi-a.gsiBase]
}

// raise delivers an edge on gsi.
func (a *ioapicModel) raise(gsi int) {
	e := a.entry(gsi)
	if e&(1<<16) == 0 && a.deliver != nil {
		a.deliver(int(e & 0xff))
	}
}

// interruptingModel is a device model whose interrupt raises gsi on the
// I/O APIC that *apic points to once set.
func interruptingModel(t *testing.T, apic *atomic.Pointer[ioapicModel], gsi int) *virtiotest.Device {
	t.Helper()
	m, err := virtiotest.New(virtiotest.Config{Transport: virtiotest.MMIOModern, OnInterrupt: func() {
		if a := apic.Load(); a != nil {
			a.raise(gsi)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestRouteFirecracker: the GSIs come from the command line Firecracker
// writes, each gets its redirection entry (vector, masked, edge, active
// high, physical destination), UseInterrupts unmasks it, and the disks
// then complete by interrupt through the I/O APIC and Handler.
func TestRouteFirecracker(t *testing.T) {
	var apic atomic.Pointer[ioapicModel]
	m := tamago.Firecracker
	slot := func(i int) uint64 { return m.MMIOBase + uint64(i)*uint64(m.MMIOSlotSize) }
	a, b := interruptingModel(t, &apic, 6), interruptingModel(t, &apic, 8)
	chip := newIOAPIC(0)
	s := space{slot(0): a.MMIO(), slot(2): b.MMIO(), 0xfec00000: chip}
	zeroPage(s, "console=ttyS0 reboot=k virtio_mmio.device=4K@0xc0001000:6 virtio_mmio.device=4K@0xc0002000:7 virtio_mmio.device=4K@0xc0003000:8")
	m.MapMem = s.mapMem
	// Both models share one DMA region: the first's.
	disks, err := m.Open(a.DMA())
	if err != nil || len(disks) != 2 || disks[0].GSI != 6 || disks[1].GSI != 8 {
		t.Fatalf("Open: %d disks, %v", len(disks), err)
	}
	if err := m.Route(disks, 64, tamago.BSP); err != nil {
		t.Fatal(err)
	}
	for i, gsi := range []int{6, 8} {
		want := x86.RedirectionEntry(uint8(64+i), 0, false, true)
		if e := chip.entry(gsi); e != want {
			t.Errorf("GSI %d: redirection entry %#x, want %#x (vector %d, masked, edge, to APIC 0)", gsi, e, want, 64+i)
		}
		if disks[i].Vector() != 64+i || disks[i].Interrupts() {
			t.Errorf("disk %d: vector %d, interrupts %v", i, disks[i].Vector(), disks[i].Interrupts())
		}
	}
	handle := tamago.Handler(disks)
	var delivered atomic.Int64
	chip.deliver = func(v int) { delivered.Add(1); handle(v) }
	apic.Store(chip)
	if err := disks[0].UseInterrupts(true); err != nil {
		t.Fatal(err)
	}
	if e := chip.entry(6); e&(1<<16) != 0 || chip.entry(8)&(1<<16) == 0 {
		t.Errorf("after UseInterrupts(true) on disk 0: entries %#x %#x, want 6 unmasked, 8 masked", e, chip.entry(8))
	}
	if err := blocktest.TestDevice(disks[0]); err != nil {
		t.Error(err)
	}
	if delivered.Load() == 0 || disks[0].Stats().Rechecked != 0 {
		t.Errorf("%d interrupts delivered, %d completions found by re-check: want all by interrupt", delivered.Load(), disks[0].Stats().Rechecked)
	}
	if err := disks[0].UseInterrupts(false); err != nil || chip.entry(6)&(1<<16) == 0 {
		t.Errorf("UseInterrupts(false): %v, entry %#x", err, chip.entry(6))
	}
	for _, d := range disks {
		d.Disconnect()
	}
}

// TestRouteFirecrackerNoCmdline: without a command line in memory Open
// says so, and the disks poll.
func TestRouteFirecrackerNoCmdline(t *testing.T) {
	a := model(t, virtiotest.MMIOModern, "a")
	m := tamago.Firecracker
	m.MapMem = space{m.MMIOBase: a.MMIO(), 0xfec00000: newIOAPIC(0)}.mapMem
	disks, err := m.Open(a.DMA())
	if len(disks) != 1 || !errors.Is(err, tamago.ErrNoCmdline) || disks[0].GSI != -1 {
		t.Fatalf("Open: %d disks, %v", len(disks), err)
	}
	if err := m.Route(disks, 64, tamago.BSP); err == nil || !strings.Contains(err.Error(), "it polls") {
		t.Errorf("Route of a disk without a GSI: %v", err)
	}
	if err := disks[0].UseInterrupts(true); !errors.Is(err, tamago.ErrNotRouted) {
		t.Errorf("UseInterrupts(true) unrouted: %v", err)
	}
	disks[0].Disconnect()
}

// TestRouteQEMUMicrovm: the last slot (23), the first QEMU fills, raises
// GSI 47: input 23 of the second I/O APIC.
func TestRouteQEMUMicrovm(t *testing.T) {
	var apic atomic.Pointer[ioapicModel]
	m := tamago.QEMUMicrovm
	top := m.MMIOBase + uint64(m.MMIOSlots-1)*uint64(m.MMIOSlotSize)
	a := interruptingModel(t, &apic, 47)
	first, second := newIOAPIC(0), newIOAPIC(24)
	m.MapMem = space{top: a.MMIO(), 0xfec00000: first, 0xfec10000: second}.mapMem
	disks, err := m.Open(a.DMA())
	if err != nil || len(disks) != 1 || disks[0].GSI != 47 {
		t.Fatalf("Open: %d disks, %v", len(disks), err)
	}
	if err := m.Route(disks, 100, tamago.BSP); err != nil {
		t.Fatal(err)
	}
	if e, want := second.entry(47), x86.RedirectionEntry(100, 0, false, true); e != want {
		t.Errorf("GSI 47: entry %#x on the second I/O APIC, want %#x", e, want)
	}
	for gsi := 0; gsi < 24; gsi++ {
		if first.entry(gsi) != 1<<16 {
			t.Errorf("the first I/O APIC's entry %d changed: %#x", gsi, first.entry(gsi))
		}
	}
	second.deliver = tamago.Handler(disks)
	apic.Store(second)
	if err := disks[0].UseInterrupts(true); err != nil {
		t.Fatal(err)
	}
	if err := blocktest.TestDevice(disks[0]); err != nil {
		t.Error(err)
	}
	if a.Interrupts() == 0 {
		t.Error("the device raised no interrupt")
	}
	disks[0].Disconnect()
}

// msixECAM is ecam with the model's BAR1, which holds its MSI-X table,
// routed too.
type msixECAM struct{ ecam }

func (e msixECAM) mapMem(addr uint64, size uint32) virtio.Regs {
	bar1 := uint64(e.fn.Config().Read32(0x14) &^ 0xf)
	if bar1 != 0 && addr == bar1 {
		if r, err := e.fn.BAR(1); err == nil {
			return r
		}
	}
	return e.ecam.mapMem(addr, size)
}

// commonCfg finds a modern virtio-pci function's common configuration
// (virtio 1.2 §4.1.4: the vendor capability of cfg_type 1) in its BAR4.
func commonCfg(t *testing.T, fn virtio.PCIFunction) virtio.Regs {
	t.Helper()
	cfg := fn.Config()
	for off := uint32(cfg.Read8(0x34)); off != 0; off = uint32(cfg.Read8(off + 1)) {
		if cfg.Read8(off) == 0x09 && cfg.Read8(off+3) == 1 {
			bar, err := fn.BAR(int(cfg.Read8(off + 4)))
			if err != nil {
				t.Fatal(err)
			}
			return offsetRegs{bar, cfg.Read32(off + 8)}
		}
	}
	t.Fatal("no common configuration capability")
	return nil
}

// offsetRegs is r from off on.
type offsetRegs struct {
	r   virtio.Regs
	off uint32
}

func (o offsetRegs) Read8(x uint32) uint8     { return o.r.Read8(o.off + x) }
func (o offsetRegs) Read16(x uint32) uint16   { return o.r.Read16(o.off + x) }
func (o offsetRegs) Read32(x uint32) uint32   { return o.r.Read32(o.off + x) }
func (o offsetRegs) Read64(x uint32) uint64   { return o.r.Read64(o.off + x) }
func (o offsetRegs) Write8(x uint32, v uint8) { o.r.Write8(o.off+x, v) }
func (o offsetRegs) Write16(x uint32, v uint16) {
	o.r.Write16(o.off+x, v)
}
func (o offsetRegs) Write32(x uint32, v uint32) { o.r.Write32(o.off+x, v) }
func (o offsetRegs) Write64(x uint32, v uint64) { o.r.Write64(o.off+x, v) }
func (o offsetRegs) Barrier(b virtio.Barrier)   { o.r.Barrier(b) }

// TestRouteCloudHypervisorMSIX: the function's MSI-X table entry 0
// carries the vector to APIC 0 (message address 0xfee00000, data the
// vector), masked until UseInterrupts; MSI-X is on; the device maps its
// configuration and queue 0 events to entry 0.
func TestRouteCloudHypervisorMSIX(t *testing.T) {
	d := model(t, virtiotest.PCIModern, "ch")
	m := tamago.CloudHypervisor
	// The model keeps its MSI-X table in a 32-bit BAR 1, as QEMU does;
	// Cloud Hypervisor, in its 64-bit BAR 0. So that BAR 1 can be
	// placed too, the window lies below 4 GiB here.
	m.PCIMemBase, m.PCIMemSize = 0xc0000000, 0x10000000
	e := msixECAM{ecam{base: m.ECAMBase, dev: 3, fn: d.PCI()}}
	m.MapMem = e.mapMem
	disks, err := m.Open(d.DMA())
	if err != nil || len(disks) != 1 || disks[0].GSI != -1 {
		t.Fatalf("Open: %d disks, %v", len(disks), err)
	}
	if err := m.Route(disks, 70, tamago.BSP); err != nil {
		t.Fatal(err)
	}
	cfg := d.PCI().Config()
	msix := uint32(0)
	for off := uint32(cfg.Read8(0x34)); off != 0; off = uint32(cfg.Read8(off + 1)) {
		if cfg.Read8(off) == 0x11 {
			msix = off
		}
	}
	if msix == 0 {
		t.Fatal("the model has no MSI-X capability")
	}
	if ctl := cfg.Read16(msix + 2); ctl&(1<<15) == 0 || ctl&(1<<14) != 0 {
		t.Errorf("MSI-X message control %#x: want enabled, function unmasked", ctl)
	}
	table := cfg.Read32(msix + 4)
	bar, err := d.PCI().BAR(int(table & 7))
	if err != nil {
		t.Fatal(err)
	}
	base := table &^ 7
	wantAddr, wantData := x86.MSIMessage(70, 0)
	if a, data, ctl := uint64(bar.Read32(base))|uint64(bar.Read32(base+4))<<32, bar.Read32(base+8), bar.Read32(base+12); a != wantAddr || data != wantData || ctl&1 == 0 {
		t.Errorf("MSI-X entry 0: address %#x data %#x control %#x, want %#x %#x masked", a, data, ctl, wantAddr, wantData)
	}
	common := commonCfg(t, d.PCI())
	common.Write16(22, 0) // queue_select
	if c, q := common.Read16(16), common.Read16(26); c != 0 || q != 0 {
		t.Errorf("config_msix_vector %#x, queue 0's msix_vector %#x: want both entry 0", c, q)
	}
	if err := disks[0].UseInterrupts(true); err != nil {
		t.Fatal(err)
	}
	if ctl := bar.Read32(base + 12); ctl&1 != 0 {
		t.Errorf("MSI-X entry 0 still masked after UseInterrupts(true): control %#x", ctl)
	}
	disks[0].Disconnect()
}

func TestRouteVectorRange(t *testing.T) {
	a := model(t, virtiotest.MMIOModern, "a")
	m := tamago.QEMUMicrovm
	top := m.MMIOBase + uint64(m.MMIOSlots-1)*uint64(m.MMIOSlotSize)
	m.MapMem = space{top: a.MMIO(), 0xfec10000: newIOAPIC(24)}.mapMem
	disks, err := m.Open(a.DMA())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []uint8{0, 31, 255} {
		if err := m.Route(disks, v, tamago.BSP); err == nil {
			t.Errorf("Route from vector %d succeeded", v)
		}
	}
	disks[0].Disconnect()
}
