package gic

import (
	"fmt"
	"testing"
)

// model is a GIC distributor as the two specifications describe its
// registers: set-enable and clear-enable (and set-pending and
// clear-pending) are two views of one bit array, written one bits at a
// time; ICFGR's lower bit of each field is reserved (RAZ/WI) for SPIs;
// on GICv3 with affinity routing ITARGETSR is RAZ/WI and IROUTER routes,
// on GICv2 there is no IROUTER. A level line is pending while its device
// asserts it (IHI 0069G 4.1.1); the distributor forwards the highest
// priority pending, enabled interrupt. Accesses outside the map, and
// changes to an SPI's trigger while it is enabled (UNPREDICTABLE, IHI
// 0069G 12.9.8), are errors.
type model struct {
	t        *testing.T
	v3       bool
	lines    int
	enabled  []bool
	pending  []bool
	asserted []bool
	group    []bool
	grpmod   []bool
	edge     []bool
	prio     []uint8
	target   []uint8
	router   []uint64
	writes   int
}

func newModel(t *testing.T, v3 bool, lines int) *model {
	return &model{t: t, v3: v3, lines: lines,
		enabled: make([]bool, lines), pending: make([]bool, lines), asserted: make([]bool, lines),
		group: make([]bool, lines), grpmod: make([]bool, lines), edge: make([]bool, lines),
		prio: make([]uint8, lines), target: make([]uint8, lines), router: make([]uint64, lines)}
}

// bits reads or writes 32 one-bit fields at INTID base.
func (m *model) bits(a []bool, base int, v uint32, write, w1 bool, set bool) uint32 {
	var r uint32
	for i := 0; i < 32 && base+i < m.lines; i++ {
		if write {
			if v&(1<<i) != 0 {
				if w1 {
					a[base+i] = set
				}
			}
			if !w1 {
				a[base+i] = v&(1<<i) != 0
			}
		} else if a[base+i] {
			r |= 1 << i
		}
	}
	return r
}

func (m *model) access(off uint32, v uint32, write bool) uint32 {
	in := func(base, n uint32) (int, bool) {
		if off >= base && off < base+n && off%4 == 0 {
			return int(off - base), true
		}
		return 0, false
	}
	if write {
		m.writes++
	}
	switch {
	case off == GICD_CTLR:
		return 0
	case off == GICD_TYPER:
		if write {
			m.t.Errorf("write to GICD_TYPER")
		}
		return uint32(m.lines/32 - 1)
	}
	if o, ok := in(GICD_IGROUPR, uint32(m.lines/8)); ok {
		return m.bits(m.group, o*8, v, write, false, false)
	}
	if o, ok := in(GICD_ISENABLER, uint32(m.lines/8)); ok {
		return m.bits(m.enabled, o*8, v, write, true, true)
	}
	if o, ok := in(GICD_ICENABLER, uint32(m.lines/8)); ok {
		return m.bits(m.enabled, o*8, v, write, true, false)
	}
	if o, ok := in(GICD_ISPENDR, uint32(m.lines/8)); ok {
		return m.bits(m.pending, o*8, v, write, true, true)
	}
	if o, ok := in(GICD_ICPENDR, uint32(m.lines/8)); ok {
		r := m.bits(m.pending, o*8, v, write, true, false)
		// A level line still asserted stays pending.
		for i := range m.pending {
			m.pending[i] = m.pending[i] || m.asserted[i] && !m.edge[i]
		}
		return r
	}
	if o, ok := in(GICD_IPRIORITYR, uint32(m.lines)); ok {
		var r uint32
		for i := 0; i < 4; i++ {
			if write {
				m.prio[o+i] = uint8(v >> (8 * i))
			}
			r |= uint32(m.prio[o+i]) << (8 * i)
		}
		return r
	}
	if o, ok := in(GICD_ITARGETSR, uint32(m.lines)); ok {
		if m.v3 {
			return 0 // RAZ/WI with affinity routing
		}
		var r uint32
		for i := 0; i < 4; i++ {
			if write && o+i >= FirstSPI {
				m.target[o+i] = uint8(v >> (8 * i))
			}
			r |= uint32(m.target[o+i]) << (8 * i)
		}
		return r
	}
	if o, ok := in(GICD_ICFGR, uint32(m.lines/4)); ok {
		var r uint32
		for i := 0; i < 16; i++ {
			id := o*4 + i
			if write && id >= FirstSPI {
				e := v&(2<<(2*i)) != 0
				if e != m.edge[id] && m.enabled[id] {
					m.t.Errorf("INTID %d: trigger changed while enabled", id)
				}
				m.edge[id] = e
			}
			if m.edge[id] {
				r |= 2 << (2 * i)
			}
		}
		return r
	}
	if m.v3 {
		if o, ok := in(GICD_IGRPMODR, uint32(m.lines/8)); ok {
			return m.bits(m.grpmod, o*8, v, write, false, false)
		}
		if o, ok := in(GICD_IROUTER, uint32(m.lines*8)); ok {
			id, hi := o/8, o%8 == 4
			if id < FirstSPI {
				m.t.Errorf("IROUTER of INTID %d, not an SPI", id)
				return 0
			}
			if write {
				if hi {
					m.router[id] = m.router[id]&0xffff_ffff | uint64(v)<<32
				} else {
					m.router[id] = m.router[id]&^0xffff_ffff | uint64(v)
				}
			}
			if hi {
				return uint32(m.router[id] >> 32)
			}
			return uint32(m.router[id])
		}
	}
	m.t.Errorf("access to unmodelled distributor offset %#x (write %t)", off, write)
	return 0
}

func (m *model) Read32(off uint32) uint32     { return m.access(off, 0, false) }
func (m *model) Write32(off uint32, v uint32) { m.access(off, v, true) }

// assert drives id's line: a level interrupt is pending while asserted,
// an edge one becomes pending on the rising edge.
func (m *model) assert(id int, level bool) {
	if level && (!m.asserted[id] || !m.edge[id]) {
		m.pending[id] = true
	}
	m.asserted[id] = level
	if !level && !m.edge[id] {
		m.pending[id] = false
	}
}

// forwarded returns the interrupt the distributor forwards, or 1023.
func (m *model) forwarded() int {
	best := Special + 3
	for id := range m.lines {
		if m.pending[id] && m.enabled[id] && (best == Special+3 || m.prio[id] < m.prio[best]) {
			best = id
		}
	}
	return best
}

func TestConfigureV3(t *testing.T) {
	m := newModel(t, true, 288) // QEMU virt: 256 SPIs
	d := &Distributor{Regs: m, V3: true}
	if d.Lines() != 288 {
		t.Fatalf("Lines %d, want 288", d.Lines())
	}
	// Something else configured: a neighbour whose bits must survive.
	m.group[49], m.edge[49], m.prio[49] = true, true, 0x20
	m.group[48], m.pending[48], m.enabled[48] = true, true, true
	if err := d.Configure(SPI{ID: 48, Priority: 0x80, Target: 0x01_0000_0203 | 1<<31}); err != nil {
		t.Fatal(err)
	}
	if m.enabled[48] || m.pending[48] {
		t.Error("Configure left INTID 48 enabled or pending")
	}
	if m.group[48] || m.grpmod[48] || m.edge[48] || m.prio[48] != 0x80 {
		t.Errorf("INTID 48: group %t grpmod %t edge %t priority %#x, want Group 0 level 0x80", m.group[48], m.grpmod[48], m.edge[48], m.prio[48])
	}
	if m.router[48] != 0x01_0000_0203 {
		t.Errorf("IROUTER %#x, want the affinity 0x100000203 with Interrupt_Routing_Mode 0", m.router[48])
	}
	if !m.group[49] || !m.edge[49] || m.prio[49] != 0x20 {
		t.Error("Configure changed INTID 49")
	}
	d.Enable(48)
	if !m.enabled[48] || m.enabled[49] || !d.Enabled(48) {
		t.Error("Enable(48) did not enable 48 alone")
	}
	// A level line: pending while asserted, held back while disabled,
	// forwarded once enabled again.
	m.assert(48, true)
	if m.forwarded() != 48 {
		t.Errorf("forwarded %d, want 48", m.forwarded())
	}
	d.Disable(48)
	if m.forwarded() != 1023 || !m.pending[48] {
		t.Error("a disabled level interrupt must stay pending and not be forwarded")
	}
	d.Enable(48)
	if m.forwarded() != 48 {
		t.Error("enabled again: the still asserted line is not forwarded")
	}
	m.assert(48, false)
	if m.forwarded() != 1023 {
		t.Error("the device deasserted its level line; it is still forwarded")
	}
}

func TestConfigureV2(t *testing.T) {
	m := newModel(t, false, 160) // i.MX6UL: 128 SPIs
	d := &Distributor{Regs: m}
	for _, id := range []int{54, 55} {
		if err := d.Configure(SPI{ID: id, Priority: 0x40, Target: 1}); err != nil {
			t.Fatal(err)
		}
		d.Enable(id)
	}
	for _, id := range []int{54, 55} {
		if m.group[id] || m.edge[id] || m.prio[id] != 0x40 || m.target[id] != 1 || !m.enabled[id] {
			t.Errorf("INTID %d: group %t edge %t priority %#x target %#x enabled %t", id, m.group[id], m.edge[id], m.prio[id], m.target[id], m.enabled[id])
		}
	}
	if err := d.Configure(SPI{ID: 54, Edge: true, Target: 1}); err != nil {
		t.Fatal(err) // the model fails the test if the trigger changed while enabled
	}
	if !m.edge[54] || m.enabled[54] || !m.enabled[55] {
		t.Error("reconfiguring 54 as edge: wrong trigger or enables")
	}
}

func TestConfigureRefuses(t *testing.T) {
	m := newModel(t, true, 288)
	d := &Distributor{Regs: m, V3: true}
	for _, id := range []int{-1, 0, 30, 31, 288, 1020} {
		before := m.writes
		if err := d.Configure(SPI{ID: id}); err == nil {
			t.Errorf("Configure(%d) accepted an INTID that is not an SPI here", id)
		}
		if m.writes != before {
			t.Errorf("Configure(%d) wrote registers before refusing", id)
		}
	}
}

func Example() {
	// QEMU virt's first virtio-mmio transport: SPI 16, INTID 48.
	d := &Distributor{Regs: newModel(&testing.T{}, true, 288), V3: true}
	err := d.Configure(SPI{ID: 48, Priority: 0x80})
	d.Enable(48)
	fmt.Println(err, d.Enabled(48))
	// Output: <nil> true
}
