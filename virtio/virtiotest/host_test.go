package virtiotest

// A minimal driver written by hand against the registers, so that the
// model is tested independently of package virtio's driver.

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/tamaswap/tamaswap/virtio"
)

// host is one transport as a driver sees it.
type host interface {
	legacy() bool
	status() uint8
	setStatus(s uint8)
	deviceFeatures() uint64
	setDriverFeatures(f uint64)
	queueMax() uint16
	// setQueue enables the host's queue (0 unless onQueue chose
	// another); legacy transports take the legacy layout at desc with
	// used ring alignment align.
	setQueue(num uint16, desc, avail, used uint64, align uint32)
	notify()
	isr() uint32 // read and acknowledge
	config32(off uint32) uint32
}

type mmioHost struct {
	r  virtio.Regs
	v1 bool
	q  uint32 // the queue driven
}

func (h mmioHost) legacy() bool             { return h.v1 }
func (h mmioHost) status() uint8            { return uint8(h.r.Read32(mmioStatus)) }
func (h mmioHost) setStatus(s uint8)        { h.r.Write32(mmioStatus, uint32(s)) }
func (h mmioHost) notify()                  { h.r.Write32(mmioQueueNotify, h.q) }
func (h mmioHost) config32(o uint32) uint32 { return h.r.Read32(mmioConfig + o) }
func (h mmioHost) deviceFeatures() uint64 {
	h.r.Write32(mmioDeviceFeaturesSel, 0)
	lo := h.r.Read32(mmioDeviceFeatures)
	h.r.Write32(mmioDeviceFeaturesSel, 1)
	return uint64(h.r.Read32(mmioDeviceFeatures))<<32 | uint64(lo)
}
func (h mmioHost) setDriverFeatures(f uint64) {
	h.r.Write32(mmioDriverFeaturesSel, 0)
	h.r.Write32(mmioDriverFeatures, uint32(f))
	if !h.v1 {
		h.r.Write32(mmioDriverFeaturesSel, 1)
		h.r.Write32(mmioDriverFeatures, uint32(f>>32))
	}
}
func (h mmioHost) queueMax() uint16 {
	h.r.Write32(mmioQueueSel, h.q)
	return uint16(h.r.Read32(mmioQueueNumMax))
}
func (h mmioHost) setQueue(num uint16, desc, avail, used uint64, align uint32) {
	h.r.Write32(mmioQueueSel, h.q)
	h.r.Write32(mmioQueueNum, uint32(num))
	if h.v1 {
		h.r.Write32(mmioGuestPageSize, 4096)
		h.r.Write32(mmioQueueAlign, align)
		h.r.Write32(mmioQueuePFN, uint32(desc/4096))
		return
	}
	h.r.Write32(mmioQueueDescLow, uint32(desc))
	h.r.Write32(mmioQueueDescHigh, uint32(desc>>32))
	h.r.Write32(mmioQueueDriverLow, uint32(avail))
	h.r.Write32(mmioQueueDriverHigh, uint32(avail>>32))
	h.r.Write32(mmioQueueDeviceLow, uint32(used))
	h.r.Write32(mmioQueueDeviceHigh, uint32(used>>32))
	h.r.Write32(mmioQueueReady, 1)
}
func (h mmioHost) isr() uint32 {
	s := h.r.Read32(mmioInterruptStatus)
	h.r.Write32(mmioInterruptACK, s)
	return s
}

// pciModernHost finds its structures by walking the capability list.
type pciModernHost struct {
	t                                  testing.TB
	bar                                virtio.Regs
	common, isrOff, device, notifyBase uint32
	notifyMult                         uint32
	q                                  uint16 // the queue driven
}

func newPCIModernHost(t testing.TB, fn virtio.PCIFunction) *pciModernHost {
	t.Helper()
	c := fn.Config()
	if c.Read16(0) != pciVendorRedHat || c.Read16(2) != pciDeviceModernBlk {
		t.Fatalf("vendor/device %#x/%#x", c.Read16(0), c.Read16(2))
	}
	if c.Read16(6)&pciStatusCapList == 0 {
		t.Fatal("no capability list")
	}
	c.Write16(4, c.Read16(4)|pciCommandBusMaster)
	h := &pciModernHost{t: t}
	seen := map[uint8]bool{}
	for p := c.Read8(pciCapabilityListPtr); p != 0; p = c.Read8(uint32(p) + 1) {
		if seen[p] {
			t.Fatalf("capability loop at %#x", p)
		}
		seen[p] = true
		if c.Read8(uint32(p)) != pciCapIDVendor {
			continue
		}
		typ, bar, off := c.Read8(uint32(p)+3), c.Read8(uint32(p)+4), c.Read32(uint32(p)+8)
		if typ != pciCapPCICfg && bar != 4 {
			t.Fatalf("cap type %d in BAR%d", typ, bar)
		}
		switch typ {
		case pciCapCommonCfg:
			h.common = off
		case pciCapISRCfg:
			h.isrOff = off
		case pciCapDeviceCfg:
			h.device = off
		case pciCapNotifyCfg:
			h.notifyBase = off
			h.notifyMult = c.Read32(uint32(p) + 16)
		}
	}
	bar, err := fn.BAR(4)
	if err != nil {
		t.Fatal(err)
	}
	h.bar = bar
	return h
}

func (h *pciModernHost) legacy() bool      { return false }
func (h *pciModernHost) status() uint8     { return h.bar.Read8(h.common + commonStatus) }
func (h *pciModernHost) setStatus(s uint8) { h.bar.Write8(h.common+commonStatus, s) }
func (h *pciModernHost) notify() {
	h.bar.Write16(h.common+commonQSelect, h.q)
	h.bar.Write16(h.notifyBase+uint32(h.bar.Read16(h.common+commonQNotifyOff))*h.notifyMult, h.q)
}
func (h *pciModernHost) config32(o uint32) uint32 { return h.bar.Read32(h.device + o) }
func (h *pciModernHost) deviceFeatures() uint64 {
	h.bar.Write32(h.common+commonDFSelect, 0)
	lo := h.bar.Read32(h.common + commonDF)
	h.bar.Write32(h.common+commonDFSelect, 1)
	return uint64(h.bar.Read32(h.common+commonDF))<<32 | uint64(lo)
}
func (h *pciModernHost) setDriverFeatures(f uint64) {
	h.bar.Write32(h.common+commonGFSelect, 0)
	h.bar.Write32(h.common+commonGF, uint32(f))
	h.bar.Write32(h.common+commonGFSelect, 1)
	h.bar.Write32(h.common+commonGF, uint32(f>>32))
}
func (h *pciModernHost) queueMax() uint16 {
	h.bar.Write16(h.common+commonQSelect, h.q)
	return h.bar.Read16(h.common + commonQSize)
}
func (h *pciModernHost) setQueue(num uint16, desc, avail, used uint64, align uint32) {
	c := h.common
	h.bar.Write16(c+commonQSelect, h.q)
	h.bar.Write16(c+commonQSize, num)
	h.bar.Write32(c+commonQDescLo, uint32(desc))
	h.bar.Write32(c+commonQDescHi, uint32(desc>>32))
	h.bar.Write64(c+commonQAvailLo, avail) // whole, as QEMU splits it
	h.bar.Write32(c+commonQUsedLo, uint32(used))
	h.bar.Write32(c+commonQUsedHi, uint32(used>>32))
	h.bar.Write16(c+commonQEnable, 1)
}
func (h *pciModernHost) isr() uint32 { return uint32(h.bar.Read8(h.isrOff)) }

type pciLegacyHost struct {
	io virtio.Regs
	q  uint16 // the queue driven
}

func newPCILegacyHost(t testing.TB, fn virtio.PCIFunction) pciLegacyHost {
	c := fn.Config()
	if c.Read16(0) != pciVendorRedHat || c.Read16(2) != pciDeviceLegacyBlk || c.Read16(0x2e) != 2 {
		t.Fatalf("vendor/device/subsystem %#x/%#x/%#x", c.Read16(0), c.Read16(2), c.Read16(0x2e))
	}
	if c.Read32(pciBAR0)&1 != 1 {
		t.Fatal("BAR0 is not an I/O BAR")
	}
	io, err := fn.BAR(0)
	if err != nil {
		t.Fatal(err)
	}
	return pciLegacyHost{io: io}
}

func (h pciLegacyHost) legacy() bool               { return true }
func (h pciLegacyHost) status() uint8              { return h.io.Read8(legacyStatus) }
func (h pciLegacyHost) setStatus(s uint8)          { h.io.Write8(legacyStatus, s) }
func (h pciLegacyHost) notify()                    { h.io.Write16(legacyQueueNotify, h.q) }
func (h pciLegacyHost) config32(o uint32) uint32   { return h.io.Read32(legacyConfig + o) }
func (h pciLegacyHost) deviceFeatures() uint64     { return uint64(h.io.Read32(legacyHostFeatures)) }
func (h pciLegacyHost) setDriverFeatures(f uint64) { h.io.Write32(legacyGuestFeatures, uint32(f)) }
func (h pciLegacyHost) isr() uint32                { return uint32(h.io.Read8(legacyISR)) }
func (h pciLegacyHost) queueMax() uint16 {
	h.io.Write16(legacyQueueSelect, h.q)
	return h.io.Read16(legacyQueueSize)
}
func (h pciLegacyHost) setQueue(num uint16, desc, avail, used uint64, align uint32) {
	h.io.Write16(legacyQueueSelect, h.q)
	h.io.Write32(legacyQueuePFN, uint32(desc>>legacyPFNShift))
}

func hostFor(t testing.TB, m *Device) host {
	switch m.transport {
	case MMIOModern:
		return mmioHost{r: m.MMIO()}
	case MMIOLegacy:
		return mmioHost{r: m.MMIO(), v1: true}
	case PCIModern:
		return newPCIModernHost(t, m.PCI())
	default:
		return newPCILegacyHost(t, m.PCI())
	}
}

// onQueue returns h driving queue q instead.
func onQueue(h host, q uint16) host {
	switch h := h.(type) {
	case mmioHost:
		h.q = uint32(q)
		return h
	case *pciModernHost:
		c := *h
		c.q = q
		return &c
	case pciLegacyHost:
		h.q = q
		return h
	}
	return h
}

var allTransports = []Transport{MMIOModern, MMIOLegacy, PCIModern, PCILegacy}

// drv is the hand-written driver: one queue, descriptors handed out in
// order, each request waited for before the next (unless the test builds
// rings itself).
type drv struct {
	t     testing.TB
	m     *Device
	h     host
	num   uint16
	feats uint64
	align uint32

	desc, avail, used    []byte
	descA, availA, usedA uint64
	nextDesc             uint16
	availIdx, lastUsed   uint16
}

// newDrv creates a device and initialises it (§3.1.1), accepting the
// offered features in want.
func newDrv(t testing.TB, cfg Config, want uint64) *drv {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return initDrv(t, m, want, legacyPCIAlign)
}

func initDrv(t testing.TB, m *Device, want uint64, align uint32) *drv {
	t.Helper()
	return initDrvQueue(t, m, want, align, 0)
}

// initDrvQueue is initDrv driving queue q (which must exist) alone.
func initDrvQueue(t testing.TB, m *Device, want uint64, align uint32, q uint16) *drv {
	t.Helper()
	d := &drv{t: t, m: m, h: onQueue(hostFor(t, m), q), align: align}
	h := d.h
	h.setStatus(0)
	h.setStatus(statusAcknowledge)
	h.setStatus(statusAcknowledge | statusDriver)
	d.feats = h.deviceFeatures() & want
	h.setDriverFeatures(d.feats)
	st := uint8(statusAcknowledge | statusDriver)
	if !h.legacy() {
		h.setStatus(st | statusFeaturesOK)
		if h.status()&statusFeaturesOK == 0 {
			t.Fatalf("FEATURES_OK refused for features %#x", d.feats)
		}
		st |= statusFeaturesOK
	}
	d.num = h.queueMax()
	if d.num == 0 {
		t.Fatalf("queue %d has QueueNumMax 0", q)
	}
	n := uint64(d.num)
	dma := m.DMA()
	if h.legacy() {
		a := uint64(align)
		usedOff := (descSize*n + 6 + 2*n + a - 1) &^ (a - 1)
		buf, addr, err := dma.Alloc(int(usedOff+8+8*n), 4096)
		if err != nil {
			t.Fatal(err)
		}
		d.descA, d.availA, d.usedA = addr, addr+descSize*n, addr+usedOff
		d.desc, d.avail, d.used = buf[:descSize*n], buf[descSize*n:descSize*n+6+2*n], buf[usedOff:]
	} else {
		d.desc, d.descA = d.alloc(int(descSize*n), 16)
		// Rounded up to whole 32-bit words: used_event and avail_event
		// are accessed with 32-bit atomics on the word that holds them.
		d.avail, d.availA = d.alloc(int(8+2*n), 4)
		d.used, d.usedA = d.alloc(int(8+8*n), 4)
	}
	h.setQueue(d.num, d.descA, d.availA, d.usedA, align)
	h.setStatus(st | statusDriverOK)
	if s := h.status(); s != st|statusDriverOK {
		t.Fatalf("status %#x after DRIVER_OK (fault %q)", s, m.Fault())
	}
	return d
}

func (d *drv) alloc(n, align int) ([]byte, uint64) {
	b, a, err := d.m.DMA().Alloc(n, align)
	if err != nil {
		d.t.Fatal(err)
	}
	return b, a
}

// buffer of a chain.
type buf struct {
	b     []byte
	write bool
}

func (d *drv) addr(b []byte) uint64 {
	a, ok := d.m.DMA().Addr(b)
	if !ok {
		d.t.Fatal("buffer outside DMA memory")
	}
	return a
}

func putDesc(table []byte, i int, addr uint64, n uint32, flags, next uint16) {
	e := table[descSize*i:]
	put64(e, addr)
	put32(e[8:], n)
	put16(e[12:], flags)
	put16(e[14:], next)
}

// addChain writes bufs as a chain of ring descriptors and returns its head.
func (d *drv) addChain(bufs []buf) uint16 {
	head := d.nextDesc
	for i, b := range bufs {
		idx := d.nextDesc
		d.nextDesc = (d.nextDesc + 1) % d.num
		var flags uint16
		if b.write {
			flags |= descFWrite
		}
		if i < len(bufs)-1 {
			flags |= descFNext
		}
		putDesc(d.desc, int(idx), d.addr(b.b), uint32(len(b.b)), flags, d.nextDesc)
	}
	return head
}

// addIndirect writes bufs into an indirect table referenced by one ring
// descriptor.
func (d *drv) addIndirect(bufs []buf) uint16 {
	table, ta := d.alloc(descSize*len(bufs), 16)
	for i, b := range bufs {
		var flags uint16
		if b.write {
			flags |= descFWrite
		}
		if i < len(bufs)-1 {
			flags |= descFNext
		}
		putDesc(table, i, d.addr(b.b), uint32(len(b.b)), flags, uint16(i+1))
	}
	head := d.nextDesc
	d.nextDesc = (d.nextDesc + 1) % d.num
	putDesc(d.desc, int(head), ta, uint32(len(table)), descFIndirect, 0)
	return head
}

// publish makes head available: ring entry first, then idx with a 32-bit
// atomic store on the flags+idx word (§2.7.13).
func (d *drv) publish(head uint16) {
	put16(d.avail[4+2*int(d.availIdx%d.num):], head)
	d.availIdx++
	d.setAvailFlags(get16(d.avail))
}

func (d *drv) setAvailFlags(flags uint16) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&d.avail[0])), uint32(flags)|uint32(d.availIdx)<<16)
}

func (d *drv) usedIdx() uint16 {
	return uint16(atomic.LoadUint32((*uint32)(unsafe.Pointer(&d.used[0]))) >> 16)
}

func (d *drv) usedFlags() uint16 {
	return uint16(atomic.LoadUint32((*uint32)(unsafe.Pointer(&d.used[0]))))
}

// waitUsed waits until the used index differs from the last one seen and
// returns it.
func (d *drv) waitUsed() uint16 {
	d.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if idx := d.usedIdx(); idx != d.lastUsed {
			return idx
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("no completion (status %#x, fault %q)", d.m.Status(), d.m.Fault())
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// usedElem returns used ring entry i.
func (d *drv) usedElem(i uint16) (id, n uint32) {
	e := d.used[4+8*int(i%d.num):]
	return get32(e), get32(e[4:])
}

// do submits bufs (indirect or not), notifies, waits for one completion
// and returns its used element.
func (d *drv) do(bufs []buf, indirect bool) (head uint16, id, n uint32) {
	d.t.Helper()
	if indirect {
		head = d.addIndirect(bufs)
	} else {
		head = d.addChain(bufs)
	}
	d.publish(head)
	d.h.notify()
	d.waitUsed()
	id, n = d.usedElem(d.lastUsed)
	d.lastUsed++
	return head, id, n
}

// blk builds a request: header, data (write: device-readable), status.
func (d *drv) blkBufs(typ uint32, sector uint64, data [][]byte, dataWrite bool) ([]buf, []byte) {
	hdr, _ := d.alloc(blkReqHeaderSize, 8)
	put32(hdr, typ)
	put64(hdr[8:], sector)
	st, _ := d.alloc(1, 1)
	st[0] = 0xee
	bufs := []buf{{hdr, false}}
	for _, b := range data {
		bufs = append(bufs, buf{b, dataWrite})
	}
	return append(bufs, buf{st, true}), st
}

// req runs one block request and checks the used element is honest.
func (d *drv) req(typ uint32, sector uint64, data [][]byte, dataWrite, indirect bool) byte {
	d.t.Helper()
	bufs, st := d.blkBufs(typ, sector, data, dataWrite)
	head, id, n := d.do(bufs, indirect)
	var want uint32
	for _, b := range bufs {
		if b.write {
			want += uint32(len(b.b))
		}
	}
	if id != uint32(head) || n != want {
		d.t.Fatalf("used elem id %d len %d, want %d %d", id, n, head, want)
	}
	return st[0]
}

func (d *drv) dmaBuf(n int, fill byte) []byte {
	b, _ := d.alloc(n, 512)
	for i := range b {
		b[i] = fill + byte(i/512)
	}
	return b
}

func checkStatus(t testing.TB, what string, got, want byte) {
	t.Helper()
	if got != want {
		t.Errorf("%s: status %d, want %d", what, got, want)
	}
}

func name(tr Transport, sync bool) string { return fmt.Sprintf("%v/sync=%v", tr, sync) }
