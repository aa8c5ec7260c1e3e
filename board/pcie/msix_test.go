package pcie

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/tamaswap/tamaswap/virtio"
)

// msixTableModel is an MSI-X table in a memory BAR as §6.8.2 lays it out:
// 16 bytes an entry, every entry masked from reset; it records the order
// of the writes to entry 1.
type msixTableModel struct {
	mem    [4096]byte
	writes []uint32
}

func (m *msixTableModel) Read32(off uint32) uint32 { return binary.LittleEndian.Uint32(m.mem[off:]) }
func (m *msixTableModel) Write32(off uint32, v uint32) {
	binary.LittleEndian.PutUint32(m.mem[off:], v)
	m.writes = append(m.writes, off)
}
func (m *msixTableModel) Read8(uint32) uint8     { return 0 }
func (m *msixTableModel) Read16(uint32) uint16   { return 0 }
func (m *msixTableModel) Read64(uint32) uint64   { return 0 }
func (m *msixTableModel) Write8(uint32, uint8)   {}
func (m *msixTableModel) Write16(uint32, uint16) {}
func (m *msixTableModel) Write64(uint32, uint64) {}
func (m *msixTableModel) Barrier(virtio.Barrier) {}

// newMSIXFn is a virtio-blk-pci function as QEMU builds it: capability
// list with a vendor capability, then MSI-X (2 entries, table at offset 0
// of BAR1, PBA at 0x800), INTA#.
func newMSIXFn(entries int) (*fakeFn, *msixTableModel) {
	f := newFakeFn(0x1af4, 0x1042, 0, fakeBAR{}, fakeBAR{size: 4096}, fakeBAR{}, fakeBAR{}, fakeBAR{size: 16384, is64: true})
	f.Write16(cfgStatus, statusCapList)
	f.cfg[cfgCapabilities] = 0x84
	f.cfg[cfgInterruptPin] = 1
	f.cfg[0x84], f.cfg[0x85] = 0x09, 0x98 // vendor-specific, next 0x98
	f.cfg[0x98], f.cfg[0x99] = capIDMSIX, 0
	f.Write16(0x98+msixControl, uint16(entries-1))
	f.Write32(0x98+msixTable, 0|1) // offset 0, BIR 1
	f.Write32(0x98+8, 0x800|1)     // PBA
	t := &msixTableModel{}
	for i := 0; i < entries; i++ {
		binary.LittleEndian.PutUint32(t.mem[i*16+msixEntryCtl:], msixEntryMasked)
	}
	return f, t
}

func msixHost(f *fakeFn, table *msixTableModel) (*Function, error) {
	h := fakeHost(map[[2]uint8]*fakeFn{{1, 0}: f}, false)
	mapMem := h.MapMem
	h.MapMem = func(addr uint64, size uint32) virtio.Regs {
		if addr < ecam && size == 4096 {
			return table // BAR1, the only 4096-byte BAR
		}
		return mapMem(addr, size)
	}
	fns, err := h.Scan()
	if err != nil || len(fns) != 1 {
		return nil, errors.Join(err, errors.New("scan did not find the function"))
	}
	return fns[0], nil
}

// The entry's address and data land where §6.8.2 puts them, masked
// first; Mask flips the mask bit only; Enable sets MSI-X Enable and
// clears Function Mask.
func TestMSIXEntry(t *testing.T) {
	f, table := newMSIXFn(2)
	f.Write16(0x98+msixControl, 1|msixFunctionMask)
	fn, err := msixHost(f, table)
	if err != nil {
		t.Fatal(err)
	}
	if fn.InterruptPin() != 1 {
		t.Errorf("InterruptPin = %d, want 1 (INTA#)", fn.InterruptPin())
	}
	m, err := fn.MSIX()
	if err != nil {
		t.Fatal(err)
	}
	if m.TableSize() != 2 || m.Enabled() {
		t.Fatalf("TableSize %d Enabled %v, want 2 false", m.TableSize(), m.Enabled())
	}
	if err := m.SetEntry(1, 0xfee01000, 0x51); err != nil {
		t.Fatal(err)
	}
	e := table.mem[16:32]
	le := binary.LittleEndian
	if le.Uint32(e[0:]) != 0xfee01000 || le.Uint32(e[4:]) != 0 || le.Uint32(e[8:]) != 0x51 || le.Uint32(e[12:]) != msixEntryMasked {
		t.Errorf("entry 1 = % x, want address 0xfee01000, data 0x51, masked", e)
	}
	if w := table.writes; len(w) != 4 || w[0] != 16+msixEntryCtl {
		t.Errorf("writes at %#x, want the vector control (mask) first", w)
	}
	if err := m.Mask(1, false); err != nil {
		t.Fatal(err)
	}
	if le.Uint32(e[12:]) != 0 || le.Uint32(table.mem[12:]) != msixEntryMasked {
		t.Errorf("after Mask(1, false): entry 1 control %#x, entry 0 %#x", le.Uint32(e[12:]), le.Uint32(table.mem[12:]))
	}
	m.Enable()
	if c := f.Read16(0x98 + msixControl); c != 1|msixEnable || !m.Enabled() {
		t.Errorf("message control %#x after Enable, want %#x", c, 1|msixEnable)
	}
	m.Disable()
	if m.Enabled() {
		t.Error("enabled after Disable")
	}
	for _, n := range []int{-1, 2} {
		if err := m.SetEntry(n, 0, 0); err == nil {
			t.Errorf("SetEntry(%d) accepted", n)
		}
		if err := m.Mask(n, false); err == nil {
			t.Errorf("Mask(%d) accepted", n)
		}
	}
}

// No capability list, a table larger than its BAR, a looping list.
func TestMSIXAbsent(t *testing.T) {
	f := newFakeFn(0x1af4, 0x1042, 0, fakeBAR{size: 4096})
	fn, err := msixHost(f, &msixTableModel{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fn.MSIX(); !errors.Is(err, ErrNoMSIX) {
		t.Errorf("MSIX without capabilities: %v, want ErrNoMSIX", err)
	}

	f, table := newMSIXFn(2)
	f.Write16(0x98+msixControl, 0x7ff) // 2048 entries: 32 KiB
	fn, err = msixHost(f, table)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fn.MSIX(); err == nil {
		t.Error("a 32 KiB table in a 4 KiB BAR accepted")
	}

	f, table = newMSIXFn(2)
	f.cfg[0x85] = 0x84 // the vendor capability points at itself
	fn, err = msixHost(f, table)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fn.MSIX(); !errors.Is(err, ErrNoMSIX) {
		t.Errorf("looping list: %v, want ErrNoMSIX", err)
	}
}
