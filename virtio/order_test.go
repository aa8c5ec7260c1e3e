package virtio

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// orderLog records, in program order, each barrier and notification the
// queue issues together with the avail idx and used_event the device
// would see in ring memory at that moment, so a test can tell on which
// side of a ring publish each barrier fell.
type orderLog struct {
	q      *SplitQueue
	events []string
}

func (l *orderLog) record(what string) {
	avail := uint16(l.q.load32(l.q.availOff) >> 16)
	l.events = append(l.events, fmt.Sprintf("%s avail=%d", what, avail))
}

func newOrderQueue(t *testing.T, features Features) (*SplitQueue, *fakeDevice, *orderLog) {
	t.Helper()
	q, dev, _ := newTestQueue(t, 8, features)
	l := &orderLog{q: q}
	dev.t.onBarrier = func(b Barrier) { l.record(b.String()) }
	serve := dev.serve
	dev.t.onNotify = func() { l.record("notify"); serve() }
	return q, dev, l
}

// TestQueueBarriersAroundPublish checks §2.7.13's order: descriptor and
// ring writes, a write barrier, the avail idx store, a full barrier, and
// only then the notify register write. Removing either barrier from the
// queue (or moving it to the other side of the idx store) fails it.
func TestQueueBarriersAroundPublish(t *testing.T) {
	for _, features := range []Features{0, FeatureSet(EventIdx)} {
		q, _, l := newOrderQueue(t, features)
		if err := q.Add([]Buffer{{Addr: 0x1000, Len: 16}}, 0); err != nil {
			t.Fatal(err)
		}
		if err := q.Add([]Buffer{{Addr: 0x2000, Len: 16}}, 1); err != nil {
			t.Fatal(err)
		}
		if !q.Notify() {
			t.Fatalf("features %#x: no notification", features)
		}
		want := []string{"wmb avail=0", "wmb avail=1", "mb avail=2", "notify avail=2"}
		if !slices.Equal(l.events, want) {
			t.Errorf("features %#x: Add, Add, Notify issued\n\t%s\nwant\n\t%s", features,
				strings.Join(l.events, "; "), strings.Join(want, "; "))
		}
	}
}

// TestQueueBarrierBeforeSuppressedNotify checks that the full barrier
// precedes the read of the suppression fields even when that read
// decides not to notify (§2.7.13.4): the decision itself must see the
// device's latest flags.
func TestQueueBarrierBeforeSuppressedNotify(t *testing.T) {
	q, dev, l := newOrderQueue(t, 0)
	q.store32(q.usedOff, usedFNoNotify)
	dev.t.onNotify = nil
	q.Add([]Buffer{{Addr: 0x1000, Len: 16}}, 0)
	l.events = nil
	if q.Notify() {
		t.Fatal("notified despite NO_NOTIFY")
	}
	if want := []string{"mb avail=1"}; !slices.Equal(l.events, want) {
		t.Errorf("Notify issued %q, want %q", l.events, want)
	}
}

// TestQueueBarriersOnReceive checks §2.7.14: a read barrier after each
// used idx load that announced new entries and before the entries are
// read; a full barrier between asking for notifications (used_event) and
// the next look at used idx.
func TestQueueBarriersOnReceive(t *testing.T) {
	q, dev, l := newOrderQueue(t, FeatureSet(EventIdx))
	q.EnableInterrupts(true)
	if want := []string{"mb avail=0"}; !slices.Equal(l.events, want) {
		t.Errorf("EnableInterrupts(true) issued %q, want %q", l.events, want)
	}
	// Log what the device's used ring shows at each barrier, too.
	dev.t.onBarrier = func(b Barrier) {
		used := uint16(loadWord(q.mem, q.usedOff) >> 16)
		event := uint16(q.load32(q.availOff + 4 + 2*int(q.size)))
		l.events = append(l.events, fmt.Sprintf("%s used=%d used_event=%d", b, used, event))
	}
	dev.t.onNotify = dev.serve
	q.Add([]Buffer{{Addr: 0x1000, Len: 16, Writable: true}}, 0)
	q.Add([]Buffer{{Addr: 0x2000, Len: 16, Writable: true}}, 1)
	q.Notify() // the device completes both
	l.events = nil
	for range 2 {
		if _, _, ok, err := q.Next(); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if _, _, ok, err := q.Next(); ok || err != nil {
		t.Fatal(ok, err)
	}
	want := []string{
		"rmb used=2 used_event=0", // one load of idx announced both entries
		"mb used=2 used_event=2",  // used_event stored before idx is read again
	}
	if !slices.Equal(l.events, want) {
		t.Errorf("Next ×3 issued\n\t%s\nwant\n\t%s", strings.Join(l.events, "; "), strings.Join(want, "; "))
	}
}

// TestQueueRefusesMisalignedEventWord: a one-entry queue would put
// used_event at ring offset 22, where a 32-bit atomic faults on arm,
// arm64 and riscv64. Without VIRTIO_F_EVENT_IDX the word is never
// accessed and the queue is fine.
func TestQueueRefusesMisalignedEventWord(t *testing.T) {
	region := newRegion(t, 1<<16, 0)
	_, err := NewSplitQueue(&fakeTransport{qmax: 1}, region, 0, 256, FeatureSet(EventIdx))
	if err == nil || !strings.Contains(err.Error(), "used_event at ring offset 22") {
		t.Errorf("size 1 with EVENT_IDX: %v, want a refusal naming used_event", err)
	}
	if n := region.Available(); n != 1<<16 {
		t.Errorf("refused queue kept DMA memory: %d bytes free", n)
	}
	q, err := NewSplitQueue(&fakeTransport{qmax: 1}, region, 0, 256, 0)
	if err != nil {
		t.Fatalf("size 1 without EVENT_IDX: %v", err)
	}
	q.Free()
	for n := uint16(2); n != 0 && n <= 0x8000; n <<= 1 {
		if err := checkAtomicLayout(n, true); err != nil {
			t.Errorf("size %d: %v", n, err)
		}
	}
}

// misalignedDMA hands out ring memory that is page aligned for the device
// but 2 bytes off in the driver's address space.
type misalignedDMA struct{ *Region }

func (m misalignedDMA) Alloc(size, align int) ([]byte, uint64, error) {
	buf, addr, err := m.Region.Alloc(size+2, align)
	if err != nil {
		return nil, 0, err
	}
	return buf[2:], addr, nil
}

func (m misalignedDMA) Free(buf []byte) {
	m.Region.Free(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&buf[0]), -2)), len(buf)+2))
}

// TestQueueRefusesMisalignedRingMemory: a DMA implementation whose host
// and device addresses disagree makes every ring word misaligned.
func TestQueueRefusesMisalignedRingMemory(t *testing.T) {
	region := newRegion(t, 1<<16, 0)
	_, err := NewSplitQueue(&fakeTransport{qmax: 8}, misalignedDMA{region}, 0, 256, 0)
	if err == nil || !strings.Contains(err.Error(), "not 4-byte aligned") {
		t.Errorf("NewQueue = %v, want a refusal of misaligned ring memory", err)
	}
	if n := region.Available(); n != 1<<16 {
		t.Errorf("refused queue kept DMA memory: %d bytes free", n)
	}
}

// TestNewRegionRefusesIncongruentAddresses: NewRegion takes memory whose
// host address agrees with the device address modulo 4096, and nothing
// else.
func TestNewRegionRefusesIncongruentAddresses(t *testing.T) {
	mem := pageAligned(8192)
	for _, addr := range []uint64{0x1004, 0x10_0800, 8} {
		if _, err := NewRegion(mem, addr); err == nil || !strings.Contains(err.Error(), "not congruent modulo 4096") {
			t.Errorf("NewRegion(host %#x, device %#x) = %v, want an error", uintptr(unsafe.Pointer(&mem[0])), addr, err)
		}
	}
	for _, c := range []struct {
		off  int
		addr uint64
	}{{0, 0}, {0, 0x7000}, {4, 0x2004}, {4095, 0xffff_ffff_ffff_ffff}} {
		if _, err := NewRegion(mem[c.off:c.off+1], c.addr); err != nil {
			t.Errorf("host offset %d at device %#x: %v", c.off, c.addr, err)
		}
	}
	if _, err := NewRegion(mem, ^uint64(0)&^4095); err == nil || !strings.Contains(err.Error(), "wraps") {
		t.Errorf("8 KiB at the last device page: %v, want an error", err)
	}
	if _, err := NewRegion(nil, 3); err != nil {
		t.Errorf("empty region: %v", err)
	}
}

// TestRegionAllocAtTheTop: aligning inside a region that ends at the top
// of the device address space must not wrap around to a low address.
func TestRegionAllocAtTheTop(t *testing.T) {
	r, err := NewRegion(pageAligned(4096), ^uint64(0)&^4095)
	if err != nil {
		t.Fatal(err)
	}
	if _, addr, err := r.Alloc(16, 1<<30); err == nil {
		t.Errorf("Alloc aligned to 1 GiB at %#x in the last page", addr)
	}
	if _, addr, err := r.Alloc(16, 4096); err != nil || addr != ^uint64(0)&^4095 {
		t.Errorf("Alloc(16, 4096) = %#x, %v", addr, err)
	}
}
