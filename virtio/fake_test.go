package virtio

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// fakeTransport is a Transport without registers, for testing the
// handshake and the rings on their own.
type fakeTransport struct {
	legacy        bool
	status        uint8
	offered       Features
	driver        Features
	rejectFeature bool // refuse FEATURES_OK
	qmax          uint16
	size          uint16
	desc, avail   uint64
	used          uint64
	notifies      int
	onNotify      func()
	onBarrier     func(Barrier)
	statusLog     []uint8
}

func (f *fakeTransport) Name() string     { return "fake" }
func (f *fakeTransport) Legacy() bool     { return f.legacy }
func (f *fakeTransport) DeviceID() uint32 { return 2 }
func (f *fakeTransport) Status() uint8    { return f.status }
func (f *fakeTransport) SetStatus(s uint8) {
	f.statusLog = append(f.statusLog, s)
	if s&StatusFeaturesOK != 0 && f.rejectFeature {
		s &^= StatusFeaturesOK
	}
	f.status = s
}
func (f *fakeTransport) DeviceFeatures() Features {
	if f.legacy {
		return f.offered & 0xffffffff
	}
	return f.offered
}
func (f *fakeTransport) SetDriverFeatures(v Features)    { f.driver = v }
func (f *fakeTransport) QueueMax(uint16) (uint16, error) { return f.qmax, nil }
func (f *fakeTransport) SetQueue(_, size uint16, desc, avail, used uint64) error {
	f.size, f.desc, f.avail, f.used = size, desc, avail, used
	return nil
}
func (f *fakeTransport) Notify(uint16) {
	f.notifies++
	if f.onNotify != nil {
		f.onNotify()
	}
}
func (f *fakeTransport) Barrier(b Barrier) {
	if f.onBarrier != nil {
		f.onBarrier(b)
	}
}
func (f *fakeTransport) InterruptStatus() uint32  { return 0 }
func (f *fakeTransport) DeviceConfig() Regs       { return window{} }
func (f *fakeTransport) ConfigGeneration() uint32 { return 0 }

// fakeDevice serves a split queue from the device side: it returns every
// available chain with used len = its writable bytes (or whatever lie
// says), optionally maintaining avail_event.
type fakeDevice struct {
	mem       *Region
	t         *fakeTransport
	eventIdx  bool
	lastAvail uint16
	usedIdx   uint16
	chains    [][]Buffer // the chains seen, in order
	lie       func(id, n uint32) (uint32, uint32)
	hold      bool // take chains but do not return them
	held      []uint32
}

func (d *fakeDevice) slice(addr, n uint64) []byte {
	b, ok := d.mem.Slice(addr, n)
	if !ok {
		panic("fake device: address outside DMA memory")
	}
	return b
}

func (d *fakeDevice) word(addr uint64) *uint32 {
	return (*uint32)(unsafe.Pointer(&d.slice(addr, 4)[0]))
}

// serve takes every available chain.
func (d *fakeDevice) serve() {
	n := uint64(d.t.size)
	availIdx := uint16(atomic.LoadUint32(d.word(d.t.avail)) >> 16)
	for d.lastAvail != availIdx {
		e := d.slice(d.t.avail+4+2*(uint64(d.lastAvail)%n), 2)
		head := binary.LittleEndian.Uint16(e)
		d.lastAvail++
		chain, writable := d.walk(head)
		d.chains = append(d.chains, chain)
		if d.hold {
			d.held = append(d.held, uint32(head))
			continue
		}
		d.complete(uint32(head), writable)
	}
	if d.eventIdx {
		atomic.StoreUint32(d.word(d.t.used+4+8*n), uint32(d.lastAvail))
	}
}

func (d *fakeDevice) complete(id, n uint32) {
	if d.lie != nil {
		id, n = d.lie(id, n)
	}
	size := uint64(d.t.size)
	e := d.slice(d.t.used+4+8*(uint64(d.usedIdx)%size), 8)
	binary.LittleEndian.PutUint32(e, id)
	binary.LittleEndian.PutUint32(e[4:], n)
	d.usedIdx++
	atomic.StoreUint32(d.word(d.t.used), uint32(d.usedIdx)<<16)
}

func (d *fakeDevice) desc(table uint64, i uint16) (addr uint64, n uint32, flags, next uint16) {
	b := d.slice(table+16*uint64(i), 16)
	return binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint32(b[8:]),
		binary.LittleEndian.Uint16(b[12:]), binary.LittleEndian.Uint16(b[14:])
}

func (d *fakeDevice) walk(head uint16) (chain []Buffer, writable uint32) {
	table, i := d.t.desc, head
	for {
		addr, n, flags, next := d.desc(table, i)
		if flags&descFIndirect != 0 {
			table, i = addr, 0
			continue
		}
		chain = append(chain, Buffer{Addr: addr, Len: n, Writable: flags&descFWrite != 0})
		if flags&descFWrite != 0 {
			writable += n
		}
		if flags&descFNext == 0 {
			return chain, writable
		}
		i = next
	}
}
