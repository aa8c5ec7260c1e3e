//go:build amd64

package x86

import (
	"testing"

	"github.com/tamaswap/tamaswap/virtio"
)

// ioapicModel is an 82093AA as software sees it: IOREGSEL selects one of
// the indirect registers, IOWIN reads and writes it. The ID and version
// registers and each entry's read-only bits (delivery status, remote
// IRR) keep their values.
type ioapicModel struct {
	sel    uint32
	regs   [0x10 + 2*24]uint32
	writes []uint32 // the indirect registers written, in order
}

func newIOAPICModel() *ioapicModel {
	m := &ioapicModel{}
	m.regs[ioAPICVer] = 23<<16 | 0x20 // 24 entries, version 0x20 (QEMU's)
	for i := 0; i < 24; i++ {
		m.regs[ioRedTbl0+2*i] = redirMasked // masked from reset
	}
	return m
}

const ioapicRO = 1<<12 | 1<<14 // delivery status, remote IRR

func (m *ioapicModel) Read32(off uint32) uint32 {
	switch off {
	case ioRegSel:
		return m.sel
	case ioWin:
		if int(m.sel) < len(m.regs) {
			return m.regs[m.sel]
		}
	}
	return 0
}

func (m *ioapicModel) Write32(off uint32, v uint32) {
	switch off {
	case ioRegSel:
		m.sel = v & 0xff
	case ioWin:
		if m.sel < ioRedTbl0 || int(m.sel) >= len(m.regs) {
			return // ID and version: nothing to write here
		}
		if m.sel%2 == 0 {
			v = v&^ioapicRO | m.regs[m.sel]&ioapicRO
		}
		m.regs[m.sel] = v
		m.writes = append(m.writes, m.sel)
	}
}

func (m *ioapicModel) Read8(uint32) uint8     { return 0 }
func (m *ioapicModel) Read16(uint32) uint16   { return 0 }
func (m *ioapicModel) Read64(uint32) uint64   { return 0 }
func (m *ioapicModel) Write8(uint32, uint8)   {}
func (m *ioapicModel) Write16(uint32, uint16) {}
func (m *ioapicModel) Write64(uint32, uint64) {}
func (m *ioapicModel) Barrier(virtio.Barrier) {}
func (m *ioapicModel) entry(pin int) (lo, hi uint32) {
	return m.regs[ioRedTbl0+2*pin], m.regs[ioRedTbl0+2*pin+1]
}

// microvm's second I/O APIC (GSIs 24-47, the virtio-mmio slots): slot 23's
// line is pin 23. Route leaves it masked with the vector, edge trigger,
// active high and the destination; Mask flips the mask bit only.
func TestIOAPICRoute(t *testing.T) {
	m := newIOAPICModel()
	a := &IOAPIC{Regs: m, GSIBase: 24}
	if !a.Present() || a.Pins() != 24 {
		t.Fatalf("Present %v Pins %d, want true 24", a.Present(), a.Pins())
	}
	if err := a.Route(47, 0x4f, 0, false); err != nil {
		t.Fatal(err)
	}
	lo, hi := m.entry(23)
	if lo != 0x4f|redirMasked || hi != 0 {
		t.Errorf("entry 23 = %#x:%#x, want vector 0x4f masked edge active-high to APIC 0", hi, lo)
	}
	// The low word is masked before the destination changes, and
	// written last.
	if w := m.writes; len(w) != 3 || w[0] != 0x3e || w[1] != 0x3f || w[2] != 0x3e {
		t.Errorf("registers written %#x, want 0x3e (mask) 0x3f (destination) 0x3e (entry)", w)
	}
	if err := a.Mask(47, false); err != nil {
		t.Fatal(err)
	}
	if lo, _ := m.entry(23); lo != 0x4f {
		t.Errorf("unmasked entry 23 low = %#x, want 0x4f", lo)
	}
	if e, _ := a.Entry(47); e != 0x4f {
		t.Errorf("Entry(47) = %#x, want 0x4f", e)
	}
	if err := a.Mask(47, true); err != nil {
		t.Fatal(err)
	}
	if lo, _ := m.entry(23); lo != 0x4f|redirMasked {
		t.Errorf("masked entry 23 low = %#x", lo)
	}
	// Other pins are untouched.
	for pin := 0; pin < 23; pin++ {
		if lo, hi := m.entry(pin); lo != redirMasked || hi != 0 {
			t.Errorf("pin %d changed: %#x:%#x", pin, hi, lo)
		}
	}
}

// A level-triggered route to another APIC ID; GSIs outside the I/O APIC
// and reserved vectors are refused without a register write.
func TestIOAPICRouteLevelAndRefusals(t *testing.T) {
	m := newIOAPICModel()
	a := &IOAPIC{Regs: m}
	if err := a.Route(16, 0x30, 3, true); err != nil {
		t.Fatal(err)
	}
	if lo, hi := m.entry(16); lo != 0x30|redirLevel|redirMasked || hi != 3<<24 {
		t.Errorf("entry 16 = %#x:%#x", hi, lo)
	}
	m.writes = nil
	for _, gsi := range []int{-1, 24, 1000} {
		if err := a.Route(gsi, 0x30, 0, false); err == nil {
			t.Errorf("Route(GSI %d) accepted", gsi)
		}
		if err := a.Mask(gsi, false); err == nil {
			t.Errorf("Mask(GSI %d) accepted", gsi)
		}
	}
	if err := a.Route(1, 15, 0, false); err == nil {
		t.Error("Route to vector 15 accepted")
	}
	if len(m.writes) != 0 {
		t.Errorf("refused calls wrote registers %#x", m.writes)
	}
}

// Nothing mapped (ioapic2=off): reads are all ones.
func TestIOAPICAbsent(t *testing.T) {
	a := &IOAPIC{Regs: allOnes{newIOAPICModel()}}
	if a.Present() {
		t.Error("an I/O APIC that reads all ones is present")
	}
}

type allOnes struct{ *ioapicModel }

func (allOnes) Read32(uint32) uint32 { return 0xffffffff }

func TestMSIMessage(t *testing.T) {
	addr, data := MSIMessage(0x50, 2)
	if addr != 0xfee02000 || data != 0x50 {
		t.Errorf("MSIMessage(0x50, 2) = %#x, %#x", addr, data)
	}
}
