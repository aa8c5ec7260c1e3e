//go:build amd64

package x86

import (
	"fmt"

	"github.com/tamaswap/tamaswap/virtio"
)

// I/O APIC registers (Intel 82093AA I/O Advanced Programmable Interrupt
// Controller datasheet §3.0): two memory-mapped words, IOREGSEL selects an
// indirect register and IOWIN reads or writes it.
const (
	ioRegSel = 0x00
	ioWin    = 0x10

	ioAPICVer   = 0x01 // bits 23:16: maximum redirection entry
	ioRedTbl0   = 0x10 // redirection entry n: registers 0x10+2n (low), 0x11+2n (high)
	verMaxRedir = 16
)

// Redirection table entry bits (82093AA §3.2.4).
const (
	redirActiveLow = 1 << 13 // interrupt input pin polarity
	redirLevel     = 1 << 15 // trigger mode: level (1) or edge (0)
	redirMasked    = 1 << 16
	redirDestShift = 56 // destination field, physical mode: an APIC ID
)

// IOAPIC is one I/O APIC: Regs reaches its IOREGSEL and IOWIN, GSIBase is
// the global system interrupt of its pin 0.
type IOAPIC struct {
	Regs    virtio.Regs
	GSIBase int
}

// Present reports whether the I/O APIC answers: nothing mapped reads as
// all ones.
func (a *IOAPIC) Present() bool {
	return a.read(ioAPICVer) != 0xffffffff
}

// Pins is the number of redirection entries.
func (a *IOAPIC) Pins() int {
	return int(a.read(ioAPICVer)>>verMaxRedir&0xff) + 1
}

func (a *IOAPIC) read(reg uint32) uint32 {
	a.Regs.Write32(ioRegSel, reg)
	return a.Regs.Read32(ioWin)
}

func (a *IOAPIC) write(reg, v uint32) {
	a.Regs.Write32(ioRegSel, reg)
	a.Regs.Write32(ioWin, v)
}

// Entry returns the redirection entry of global system interrupt gsi.
func (a *IOAPIC) Entry(gsi int) (uint64, error) {
	pin, err := a.pin(gsi)
	if err != nil {
		return 0, err
	}
	r := ioRedTbl0 + 2*uint32(pin)
	return uint64(a.read(r+1))<<32 | uint64(a.read(r)), nil
}

func (a *IOAPIC) pin(gsi int) (int, error) {
	pin := gsi - a.GSIBase
	if pin < 0 || pin >= a.Pins() {
		return 0, fmt.Errorf("x86: GSI %d is not on the I/O APIC of GSIs %d-%d", gsi, a.GSIBase, a.GSIBase+a.Pins()-1)
	}
	return pin, nil
}

// Route programs gsi's redirection entry: fixed delivery of vector to the
// local APIC whose ID is dest (physical mode), edge or level triggered,
// active high, and masked: Unmask lets it through. The high word (the
// destination) is written first, while the entry is masked, so that no
// half-written entry can deliver.
func (a *IOAPIC) Route(gsi int, vector, dest uint8, level bool) error {
	if vector < 16 {
		return fmt.Errorf("x86: vector %d is reserved", vector) // 82093AA §3.2.4: 0x10-0xfe
	}
	pin, err := a.pin(gsi)
	if err != nil {
		return err
	}
	r := ioRedTbl0 + 2*uint32(pin)
	e := RedirectionEntry(vector, dest, level, true)
	a.write(r, redirMasked)
	a.write(r+1, uint32(e>>32))
	a.write(r, uint32(e))
	return nil
}

// Mask masks or unmasks gsi's redirection entry, keeping the rest of it.
func (a *IOAPIC) Mask(gsi int, masked bool) error {
	pin, err := a.pin(gsi)
	if err != nil {
		return err
	}
	r := ioRedTbl0 + 2*uint32(pin)
	lo := a.read(r)
	if masked {
		lo |= redirMasked
	} else {
		lo &^= redirMasked
	}
	a.write(r, lo)
	return nil
}

// RedirectionEntry is the 64-bit redirection entry for fixed delivery of
// vector to the local APIC dest in physical mode, active high.
func RedirectionEntry(vector, dest uint8, level, masked bool) uint64 {
	e := uint64(vector) | uint64(dest)<<redirDestShift
	if level {
		e |= redirLevel
	}
	if masked {
		e |= redirMasked
	}
	return e
}

// MSIMessage is the message address and data with which a PCI function's
// MSI or MSI-X entry raises vector at the local APIC dest: fixed delivery,
// edge triggered, physical destination mode (Intel SDM Vol. 3A §11.11.1
// and §11.11.2).
func MSIMessage(vector, dest uint8) (addr uint64, data uint32) {
	return 0xfee00000 | uint64(dest)<<12, uint32(vector)
}
