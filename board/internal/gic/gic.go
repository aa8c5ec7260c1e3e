// Package gic programs the distributor of an Arm Generic Interrupt
// Controller, version 2 (the i.MX6UL's Cortex-A7 GIC-400) or version 3
// with affinity routing (QEMU virt's GICv3), for the shared peripheral
// interrupts (SPIs) of the devices a board drives: group, trigger,
// priority, target CPU, enable. It is written from ARM IHI 0048B (GICv2)
// and ARM IHI 0069G (GICv3) and knows nothing of TamaGo, so that the host
// tests check its register writes against a model of the distributor.
//
// The CPU interface (acknowledge, end of interrupt) is the board's: a
// memory-mapped GICC on GICv2, system registers on GICv3, both provided by
// upstream TamaGo's gic packages.
package gic

import "fmt"

// Regs is 32-bit access to the distributor's register frame (GICD); each
// call is exactly one access. Every board's MMIO (a virtio.Regs) fits.
type Regs interface {
	Read32(off uint32) uint32
	Write32(off uint32, v uint32)
}

// Distributor registers (IHI 0048B 4.1.2 Table 4-1; IHI 0069G 12.9
// Table 12-25), in the order of the register map.
const (
	GICD_CTLR       = 0x0000
	GICD_TYPER      = 0x0004
	GICD_IGROUPR    = 0x0080 // one bit per INTID: 0 is Group 0
	GICD_ISENABLER  = 0x0100 // write 1 to enable
	GICD_ICENABLER  = 0x0180 // write 1 to disable
	GICD_ISPENDR    = 0x0200
	GICD_ICPENDR    = 0x0280 // write 1 to clear pending
	GICD_IPRIORITYR = 0x0400 // one byte per INTID, lower is higher priority
	GICD_ITARGETSR  = 0x0800 // GICv2: one byte per INTID, a CPU mask
	GICD_ICFGR      = 0x0c00 // two bits per INTID: bit 1 set is edge-triggered
	GICD_IGRPMODR   = 0x0d00 // GICv3: with IGROUPR, 0/0 is Secure Group 0
	GICD_IROUTER    = 0x6000 // GICv3: 64 bits per INTID, affinity of the target

	TYPER_ITLINES = 0x1f // ITLinesNumber: 32*(N+1) INTIDs
	IROUTER_AFF   = 0xff_00ff_ffff
)

// INTID ranges (IHI 0069G 2.2.1).
const (
	FirstSPI = 32
	Special  = 1020 // 1020-1023: special INTIDs, 1023 is "none pending"
)

// Distributor is one GIC distributor.
type Distributor struct {
	Regs Regs
	// V3 says affinity routing is on (GICD_CTLR.ARE_S, as TamaGo's
	// arm64 gic.Init sets it): SPIs are routed by GICD_IROUTER and
	// GICD_ITARGETSR is ignored.
	V3 bool
}

// Lines returns how many INTIDs the distributor implements (GICD_TYPER
// ITLinesNumber), at most 1020.
func (d *Distributor) Lines() int {
	n := 32 * (int(d.Regs.Read32(GICD_TYPER)&TYPER_ITLINES) + 1)
	return min(n, Special)
}

// SPI is one shared peripheral interrupt as a board wires it.
type SPI struct {
	ID int // INTID: 32 + the SPI number of the machine's definition
	// Edge is set for an edge-triggered line; clear for a level
	// one, which stays pending while the device asserts it.
	Edge     bool
	Priority uint8 // must be above the CPU interface's priority mask
	// Target is the CPU the interrupt goes to: on GICv3 its affinity
	// (MPIDR_EL1's Aff3.Aff2.Aff1.Aff0), on GICv2 a mask of CPU
	// interfaces (bit 0 is CPU 0).
	Target uint64
}

// Configure sets the SPI up as a Secure Group 0 interrupt, with its
// trigger, priority and target, and leaves it disabled and not pending:
// Enable forwards it. The steps follow the order IHI 0069G 12.9.8 asks of
// GICD_ICFGR and IHI 0048B 4.3.13 of GICD_ITARGETSR: the interrupt is
// disabled while they change.
func (d *Distributor) Configure(s SPI) error {
	if s.ID < FirstSPI || s.ID >= d.Lines() {
		return fmt.Errorf("gic: INTID %d is not an SPI of this distributor (32..%d)", s.ID, d.Lines()-1)
	}
	n, bit := uint32(s.ID/32), uint32(1)<<(s.ID%32)
	d.Disable(s.ID)
	d.rmw(GICD_IGROUPR+4*n, bit, 0)
	if d.V3 {
		d.rmw(GICD_IGRPMODR+4*n, bit, 0)
	}
	cfg := uint32(0)
	if s.Edge {
		cfg = 2
	}
	shift := uint32(s.ID%16) * 2
	d.rmw(GICD_ICFGR+4*uint32(s.ID/16), 3<<shift, cfg<<shift)
	byteShift := uint32(s.ID%4) * 8
	d.rmw(GICD_IPRIORITYR+4*uint32(s.ID/4), 0xff<<byteShift, uint32(s.Priority)<<byteShift)
	if d.V3 {
		// Interrupt_Routing_Mode 0: to the PE named by the affinity.
		aff := s.Target & IROUTER_AFF
		off := GICD_IROUTER + 8*uint32(s.ID)
		d.Regs.Write32(off, uint32(aff))
		d.Regs.Write32(off+4, uint32(aff>>32))
	} else {
		d.rmw(GICD_ITARGETSR+4*uint32(s.ID/4), 0xff<<byteShift, uint32(s.Target&0xff)<<byteShift)
	}
	d.Regs.Write32(GICD_ICPENDR+4*n, bit)
	return nil
}

// Enable forwards interrupt id to the CPU interface (GICD_ISENABLER:
// writing 1 sets one bit, zeroes change nothing).
func (d *Distributor) Enable(id int) {
	d.Regs.Write32(GICD_ISENABLER+4*uint32(id/32), 1<<(id%32))
}

// Disable stops forwarding id; a level interrupt stays pending in the
// distributor while its device asserts it, and is forwarded once enabled
// again.
func (d *Distributor) Disable(id int) {
	d.Regs.Write32(GICD_ICENABLER+4*uint32(id/32), 1<<(id%32))
}

// Enabled reports whether id is forwarded.
func (d *Distributor) Enabled(id int) bool {
	return d.Regs.Read32(GICD_ISENABLER+4*uint32(id/32))&(1<<(id%32)) != 0
}

func (d *Distributor) rmw(off, mask, v uint32) {
	d.Regs.Write32(off, d.Regs.Read32(off)&^mask|v&mask)
}
