package pcie

import (
	"errors"
	"fmt"

	"github.com/tamaswap/tamaswap/virtio"
)

// Capability list and MSI-X (PCI Local Bus Specification 3.0 §6.7 and
// §6.8.2).
const (
	cfgStatus        = 0x06
	cfgCapabilities  = 0x34
	cfgInterruptPin  = 0x3d
	statusCapList    = 1 << 4
	capIDMSIX        = 0x11
	msixControl      = 2 // message control, 16 bits
	msixTable        = 4 // table offset and BIR
	msixTableSizeMsk = 0x7ff
	msixFunctionMask = 1 << 14
	msixEnable       = 1 << 15
	msixBIRMask      = 0x7

	// An MSI-X table entry (§6.8.2.6-9): message address (low, high),
	// message data, vector control.
	msixEntrySize   = 16
	msixEntryAddr   = 0
	msixEntryData   = 8
	msixEntryCtl    = 12
	msixEntryMasked = 1
)

// ErrNoMSIX is returned by MSIX for a function without the capability.
var ErrNoMSIX = errors.New("pcie: function has no MSI-X capability")

// capability returns the configuration offset of the first capability
// with id, or 0. The walk stops after 48 entries, all that fit in the
// 192 bytes after the header, so that a looping list ends.
func (f *Function) capability(id uint8) uint32 {
	if f.cfg.Read16(cfgStatus)&statusCapList == 0 {
		return 0
	}
	off := uint32(f.cfg.Read8(cfgCapabilities)) &^ 3
	for i := 0; off >= 0x40 && off < 0x100 && i < 48; i++ {
		if f.cfg.Read8(off) == id {
			return off
		}
		off = uint32(f.cfg.Read8(off+1)) &^ 3
	}
	return 0
}

// InterruptPin is the legacy interrupt pin the function uses: 1 to 4 for
// INTA# to INTD#, 0 for none (§6.2.4).
func (f *Function) InterruptPin() uint8 {
	p := f.cfg.Read8(cfgInterruptPin)
	if p > 4 {
		return 0
	}
	return p
}

// MSIX is a function's MSI-X capability and its table.
type MSIX struct {
	cfg   virtio.Regs
	off   uint32 // of the capability in configuration space
	table virtio.Regs
	base  uint32 // of the table in its BAR
	size  int
}

// MSIX finds the function's MSI-X capability and maps its table from the
// BAR the capability names.
func (f *Function) MSIX() (*MSIX, error) {
	off := f.capability(capIDMSIX)
	if off == 0 {
		return nil, fmt.Errorf("%w: %v", ErrNoMSIX, f)
	}
	t := f.cfg.Read32(off + msixTable)
	bar, err := f.BAR(int(t & msixBIRMask))
	if err != nil {
		return nil, fmt.Errorf("pcie: MSI-X table of %v: %w", f, err)
	}
	m := &MSIX{
		cfg: f.cfg, off: off, table: bar, base: t &^ msixBIRMask,
		size: int(f.cfg.Read16(off+msixControl)&msixTableSizeMsk) + 1,
	}
	if _, size, _ := f.BARAddr(int(t & msixBIRMask)); uint64(m.base)+uint64(m.size)*msixEntrySize > size {
		return nil, fmt.Errorf("pcie: MSI-X table of %v: %d entries at %#x do not fit its %d-byte BAR", f, m.size, m.base, size)
	}
	return m, nil
}

// TableSize is the number of table entries.
func (m *MSIX) TableSize() int { return m.size }

// Enabled reports whether MSI-X is on for the function.
func (m *MSIX) Enabled() bool { return m.cfg.Read16(m.off+msixControl)&msixEnable != 0 }

// SetEntry writes table entry n: the message address and data, masked.
// Mask then lets it through. The entry is masked before its address and
// data change (§6.8.2.9: software must not change them while unmasked).
func (m *MSIX) SetEntry(n int, addr uint64, data uint32) error {
	if n < 0 || n >= m.size {
		return fmt.Errorf("pcie: MSI-X entry %d of a %d-entry table", n, m.size)
	}
	e := m.base + uint32(n)*msixEntrySize
	m.table.Write32(e+msixEntryCtl, msixEntryMasked)
	m.table.Write32(e+msixEntryAddr, uint32(addr))
	m.table.Write32(e+msixEntryAddr+4, uint32(addr>>32))
	m.table.Write32(e+msixEntryData, data)
	return nil
}

// Mask masks or unmasks entry n; a masked entry's messages are held
// pending (§6.8.2.9).
func (m *MSIX) Mask(n int, masked bool) error {
	if n < 0 || n >= m.size {
		return fmt.Errorf("pcie: MSI-X entry %d of a %d-entry table", n, m.size)
	}
	ctl := m.base + uint32(n)*msixEntrySize + msixEntryCtl
	v := m.table.Read32(ctl) &^ msixEntryMasked
	if masked {
		v |= msixEntryMasked
	}
	m.table.Write32(ctl, v)
	return nil
}

// Enable turns MSI-X on for the function, with the function mask clear:
// from then on it signals interrupts through its table and never INTx
// (§6.8.2.3).
func (m *MSIX) Enable() {
	c := m.cfg.Read16(m.off + msixControl)
	m.cfg.Write16(m.off+msixControl, (c|msixEnable)&^msixFunctionMask)
}

// Disable turns MSI-X off: the function is back to INTx.
func (m *MSIX) Disable() {
	c := m.cfg.Read16(m.off + msixControl)
	m.cfg.Write16(m.off+msixControl, c&^msixEnable)
}
