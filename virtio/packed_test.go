package virtio

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// packedDevice is the device side of a PackedQueue for these tests,
// written from §2.8 on the queue's own ring memory: it takes available
// chains in ring order with its copy of the driver's wrap counter, and
// writes used descriptors where and when a test says.
type packedDevice struct {
	q         *PackedQueue
	nextAvail uint16
	availWrap bool
	usedIdx   uint16
	usedWrap  bool
}

type takenChain struct {
	id    uint16
	ndesc uint16
	bufs  []Buffer
}

func newPackedTest(t *testing.T, size uint16, features Features) (*PackedQueue, *packedDevice, *fakeTransport) {
	t.Helper()
	region := newRegion(t, 1<<20, 0x4000_0000)
	ft := &fakeTransport{qmax: size}
	q, err := NewPackedQueue(ft, region, 0, 256, features)
	if err != nil {
		t.Fatal(err)
	}
	if ft.desc != q.addr || ft.avail != q.addr+uint64(16*int(q.size)) || ft.used != ft.avail+4 {
		t.Fatalf("SetQueue got %#x %#x %#x for a ring at %#x", ft.desc, ft.avail, ft.used, q.addr)
	}
	return q, &packedDevice{q: q, availWrap: true, usedWrap: true}, ft
}

func (d *packedDevice) slot(i uint16) (addr uint64, n uint32, id, flags uint16) {
	off := int(i) * descSize
	w := d.q.load32(off + 12)
	return le64(d.q.mem[off:]), d.q.load32(off + 8), uint16(w), uint16(w >> 16)
}

func le64(b []byte) uint64 {
	return uint64(le32(loadWord(b, 0))) | uint64(le32(loadWord(b, 4)))<<32
}

// take returns the next available chain, or false.
func (d *packedDevice) take(t *testing.T) (takenChain, bool) {
	t.Helper()
	var c takenChain
	for {
		addr, n, id, flags := d.slot(d.nextAvail)
		if (flags&descFAvail != 0) != d.availWrap || (flags&descFUsed != 0) == d.availWrap {
			if c.ndesc != 0 {
				t.Fatalf("chain broken off at slot %d (flags %#x)", d.nextAvail, flags)
			}
			return c, false
		}
		c.ndesc++
		c.id = id
		if d.nextAvail++; d.nextAvail == d.q.size {
			d.nextAvail, d.availWrap = 0, !d.availWrap
		}
		if flags&descFIndirect != 0 {
			b, ok := d.q.dma.(*Region).Slice(addr, uint64(n))
			if !ok {
				t.Fatalf("indirect table %#x+%d outside DMA memory", addr, n)
			}
			for k := 0; k < int(n)/descSize; k++ {
				e := b[k*descSize:]
				f := uint16(e[14]) | uint16(e[15])<<8
				if f&^descFWrite != 0 {
					t.Fatalf("indirect entry %d has flags %#x: only WRITE is valid", k, f)
				}
				c.bufs = append(c.bufs, Buffer{Addr: le64(e), Len: le32(loadWord(e, 8)), Writable: f&descFWrite != 0})
			}
			return c, true
		}
		c.bufs = append(c.bufs, Buffer{Addr: addr, Len: n, Writable: flags&descFWrite != 0})
		if flags&descFNext == 0 {
			return c, true
		}
	}
}

// use writes a used descriptor for id at the used position and skips
// ndesc slots; flags are AVAIL and USED at the device's wrap counter,
// xor flip.
func (d *packedDevice) use(id uint16, n uint32, ndesc uint16, flip uint16) {
	var flags uint16
	if d.usedWrap {
		flags = descFAvail | descFUsed
	}
	off := int(d.usedIdx) * descSize
	d.q.store32(off+8, n)
	d.q.store32(off+12, uint32(id)|uint32(flags^flip)<<16)
	d.usedIdx += ndesc
	if d.usedIdx >= d.q.size {
		d.usedIdx -= d.q.size
		d.usedWrap = !d.usedWrap
	}
}

func writable(bufs []Buffer) uint32 {
	var w uint32
	for _, b := range bufs {
		if b.Writable {
			w += b.Len
		}
	}
	return w
}

// Chains of 1 to 4 descriptors, direct and indirect, completed out of
// order, over many laps of a small ring: every token comes back once
// with its length, every buffer reaches the device as added, and the
// ring is whole at the end.
func TestPackedLapsOutOfOrder(t *testing.T) {
	for _, size := range []uint16{4, 8, 16} {
		q, dev, _ := newPackedTest(t, size, FeatureSet(IndirectDesc))
		rng := rand.New(rand.NewPCG(uint64(size), 7))
		table, tableAddr, err := q.dma.Alloc(16*4*int(size), 16)
		if err != nil {
			t.Fatal(err)
		}
		added := map[int][]Buffer{}
		var taken []takenChain
		next, done := 0, 0
		for done < 2000 {
			// Add while there is room.
			for q.NumFree() > 0 && rng.IntN(3) != 0 {
				n := 1 + rng.IntN(4)
				bufs := make([]Buffer, n)
				for i := range bufs {
					bufs[i] = Buffer{Addr: uint64(0x1000 * (next*4 + i + 1)), Len: uint32(1 + rng.IntN(4096)), Writable: i >= n/2}
				}
				var err error
				if rng.IntN(2) == 0 {
					slot := next % int(size)
					err = q.AddIndirect(table[slot*64:slot*64+64], tableAddr+uint64(slot*64), bufs, next)
				} else {
					err = q.Add(bufs, next)
				}
				if errors.Is(err, ErrQueueFull) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				added[next] = bufs
				next++
			}
			q.Notify()
			for {
				c, ok := dev.take(t)
				if !ok {
					break
				}
				taken = append(taken, c)
			}
			// Complete a random subset, in random order.
			rng.Shuffle(len(taken), func(i, j int) { taken[i], taken[j] = taken[j], taken[i] })
			k := rng.IntN(len(taken) + 1)
			for _, c := range taken[:k] {
				dev.use(c.id, writable(c.bufs), c.ndesc, 0)
			}
			for _, c := range taken[:k] {
				token, n, ok, err := q.Next()
				if err != nil || !ok {
					t.Fatalf("size %d: Next = %d %d %t %v after a completion", size, token, n, ok, err)
				}
				want, found := added[token]
				if !found {
					t.Fatalf("size %d: token %d not in flight", size, token)
				}
				if n != writable(want) {
					t.Fatalf("size %d: token %d length %d, want %d", size, token, n, writable(want))
				}
				if !slices.Equal(c.bufs, want) {
					t.Fatalf("size %d: token %d: the device saw %v, the driver added %v", size, token, c.bufs, want)
				}
				delete(added, token)
				done++
			}
			taken = slices.Delete(taken, 0, k)
			if _, _, ok, err := q.Next(); ok || err != nil {
				for i := range size {
					a, n, id, f := dev.slot(i)
					t.Logf("slot %d: addr %#x len %d id %d flags %#x", i, a, n, id, f)
				}
				t.Logf("driver nextAvail %d wrap %t lastUsed %d wrap %t free %d inflight %d; device nextAvail %d wrap %t used %d wrap %t", q.nextAvail, q.availWrap, q.lastUsed, q.usedWrap, q.numFree, q.inFlight, dev.nextAvail, dev.availWrap, dev.usedIdx, dev.usedWrap)
				t.Fatalf("size %d: Next found a completion nobody wrote (%v)", size, err)
			}
		}
		// Drain: whatever is still in the ring, then every chain taken.
		for {
			c, ok := dev.take(t)
			if !ok {
				break
			}
			taken = append(taken, c)
		}
		for _, c := range taken {
			dev.use(c.id, writable(c.bufs), c.ndesc, 0)
		}
		for range taken {
			if _, _, ok, err := q.Next(); !ok || err != nil {
				t.Fatalf("size %d: drain: %t %v", size, ok, err)
			}
		}
		if q.InFlight() != 0 || q.NumFree() != int(size) {
			t.Errorf("size %d: %d in flight, %d free at the end", size, q.InFlight(), q.NumFree())
		}
	}
}

// The first descriptor of a chain becomes available last, after a write
// barrier: at the barrier the rest of the chain is in the ring and the
// head is not yet available (§2.8.21.1).
func TestPackedHeadPublishedLast(t *testing.T) {
	q, dev, ft := newPackedTest(t, 8, 0)
	var seen []string
	ft.onBarrier = func(b Barrier) {
		_, _, _, head := dev.slot(0)
		_, n1, _, second := dev.slot(1)
		seen = append(seen, fmt.Sprintf("%v head=%#x second=%#x len=%d", b, head, second, n1))
	}
	if err := q.Add([]Buffer{{Addr: 0x1000, Len: 16}, {Addr: 0x2000, Len: 512, Writable: true}}, 0); err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("wmb head=0x0 second=%#x len=512", descFAvail|descFWrite)}
	if !slices.Equal(seen, want) {
		t.Errorf("barriers %q, want %q", seen, want)
	}
	if _, _, _, f := dev.slot(0); f != descFAvail|descFNext {
		t.Errorf("head flags %#x after Add, want AVAIL|NEXT", f)
	}
}

// Notify reads the Device Event Suppression structure after a full
// barrier and follows it: DISABLE, ENABLE, and with EVENT_IDX a
// descriptor offset and wrap counter, also one from the previous lap.
func TestPackedNotifySuppression(t *testing.T) {
	for _, c := range []struct {
		name     string
		eventIdx bool
		prior    int // descriptors added and notified before
		event    uint32
		want     bool
	}{
		{"enable", false, 0, ringEventEnable << 16, true},
		{"disable", false, 0, ringEventDisable << 16, false},
		{"desc-at-first", true, 0, ringEventDesc<<16 | 1<<15 | 0, true},
		{"desc-at-second", true, 0, ringEventDesc<<16 | 1<<15 | 1, true},
		{"desc-ahead", true, 0, ringEventDesc<<16 | 1<<15 | 2, false},
		{"desc-after-wrap", true, 7, ringEventDesc<<16 | 0<<15 | 0, true},
		{"desc-before-wrap", true, 7, ringEventDesc<<16 | 1<<15 | 7, true},
		{"desc-last-lap", true, 7, ringEventDesc<<16 | 1<<15 | 6, false},
		{"desc-without-event-idx", false, 0, ringEventDesc << 16, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var f Features
			if c.eventIdx {
				f = FeatureSet(EventIdx)
			}
			q, dev, ft := newPackedTest(t, 8, f)
			for i := range c.prior {
				if err := q.Add([]Buffer{{Addr: 0x1000, Len: 1, Writable: true}}, i); err != nil {
					t.Fatal(err)
				}
				q.Notify()
				ch, _ := dev.take(t)
				dev.use(ch.id, 1, 1, 0)
				if _, _, ok, err := q.Next(); !ok || err != nil {
					t.Fatal(ok, err)
				}
			}
			before := ft.notifies
			q.store32(q.deviceOff, c.event)
			var log []string
			ft.onBarrier = func(b Barrier) { log = append(log, b.String()) }
			for i := range 2 {
				if err := q.Add([]Buffer{{Addr: 0x1000, Len: 1, Writable: true}}, 100+i); err != nil {
					t.Fatal(err)
				}
			}
			got := q.Notify()
			if got != c.want || (ft.notifies-before == 1) != c.want {
				t.Errorf("Notify = %t with %d notifications, want %t", got, ft.notifies-before, c.want)
			}
			if want := []string{"wmb", "wmb", "mb"}; !slices.Equal(log, want) {
				t.Errorf("barriers %q, want %q", log, want)
			}
		})
	}
}

// The Driver Event Suppression structure follows EnableInterrupts: off
// DISABLE; on ENABLE, or with EVENT_IDX DESC at the next used descriptor
// and its wrap counter, moved on by each Next.
func TestPackedInterruptSuppression(t *testing.T) {
	for _, eventIdx := range []bool{false, true} {
		var f Features
		if eventIdx {
			f = FeatureSet(EventIdx)
		}
		q, dev, _ := newPackedTest(t, 4, f)
		event := func() (uint16, uint16) { w := q.load32(q.driverOff); return uint16(w), uint16(w >> 16) }
		if _, fl := event(); fl != ringEventDisable {
			t.Errorf("event idx %t: flags %d after NewPackedQueue, want DISABLE", eventIdx, fl)
		}
		q.EnableInterrupts(true)
		for i := range 6 { // past the end of the ring
			if err := q.Add([]Buffer{{Addr: 0x1000, Len: 1, Writable: true}}, i); err != nil {
				t.Fatal(err)
			}
			q.Notify()
			c, _ := dev.take(t)
			dev.use(c.id, 1, 1, 0)
			q.Next()
		}
		off, fl := event()
		switch {
		case !eventIdx && fl != ringEventEnable:
			t.Errorf("flags %d with interrupts on, want ENABLE", fl)
		case eventIdx && (fl != ringEventDesc || off != 2): // slot 2, wrap counter 0
			t.Errorf("event idx: off_wrap %#x flags %d after 6 completions on a ring of 4, want 0x2 and DESC", off, fl)
		}
		q.EnableInterrupts(false)
		if _, fl := event(); fl != ringEventDisable {
			t.Errorf("event idx %t: flags %d with interrupts off, want DISABLE", eventIdx, fl)
		}
	}
}

// A device that writes a used descriptor the driver did not send breaks
// the queue, and the queue stays broken.
func TestPackedHostileUsed(t *testing.T) {
	for _, c := range []struct {
		name string
		lie  func(dev *packedDevice, ch takenChain)
		want string
	}{
		{"id-out-of-range", func(dev *packedDevice, ch takenChain) { dev.use(9, 0, ch.ndesc, 0) }, "out of range"},
		{"id-not-in-flight", func(dev *packedDevice, ch takenChain) { dev.use(ch.id+1, 0, ch.ndesc, 0) }, "not in flight"},
		{"len-too-long", func(dev *packedDevice, ch takenChain) { dev.use(ch.id, 513, ch.ndesc, 0) }, "exceeds"},
		{"wrap-contradiction", func(dev *packedDevice, ch takenChain) { dev.use(ch.id, 0, ch.ndesc, descFAvail) }, "wrap counter"},
		{"double", func(dev *packedDevice, ch takenChain) {
			dev.use(ch.id, 512, ch.ndesc, 0)
			dev.use(ch.id, 512, 1, 0)
		}, "not in flight"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, dev, _ := newPackedTest(t, 8, 0)
			if err := q.Add([]Buffer{{Addr: 0x1000, Len: 16}, {Addr: 0x2000, Len: 512, Writable: true}}, 5); err != nil {
				t.Fatal(err)
			}
			q.Notify()
			ch, _ := dev.take(t)
			c.lie(dev, ch)
			var err error
			for range 2 {
				if _, _, _, err = q.Next(); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrDeviceBroken) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Next = %v, want ErrDeviceBroken saying %q", err, c.want)
			}
			if err := q.Add([]Buffer{{Addr: 0x1000, Len: 16}}, 6); !errors.Is(err, ErrDeviceBroken) {
				t.Errorf("Add on a broken queue = %v", err)
			}
		})
	}
}

// Add and Next allocate nothing.
func TestPackedAllocationFree(t *testing.T) {
	q, dev, _ := newPackedTest(t, 8, 0)
	bufs := []Buffer{{Addr: 0x1000, Len: 16}, {Addr: 0x2000, Len: 512, Writable: true}, {Addr: 0x3000, Len: 1, Writable: true}}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := q.Add(bufs, 1); err != nil {
			t.Fatal(err)
		}
		q.Notify()
		_, _, id, _ := dev.slot(dev.nextAvail)
		dev.nextAvail, dev.availWrap = (dev.nextAvail+3)%8, dev.availWrap != (dev.nextAvail+3 >= 8)
		dev.use(id, 513, 3, 0)
		if _, _, ok, err := q.Next(); !ok || err != nil {
			t.Fatal(ok, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request", allocs)
	}
}
