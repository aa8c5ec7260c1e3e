package virtio

import (
	"errors"
	"slices"
	"testing"
	"unsafe"
)

func newTestQueue(t testing.TB, size uint16, features Features) (*SplitQueue, *fakeDevice, *Region) {
	t.Helper()
	region := newRegion(t, 1<<20, 0x4000_0000)
	ft := &fakeTransport{qmax: size}
	q, err := NewSplitQueue(ft, region, 0, 256, features)
	if err != nil {
		t.Fatal(err)
	}
	dev := &fakeDevice{mem: region, t: ft, eventIdx: features.Has(EventIdx)}
	ft.onNotify = dev.serve
	return q, dev, region
}

// newRegion returns a Region of size bytes at device address addr (a
// multiple of 4096), page-aligned in the host as NewRegion requires.
func newRegion(t testing.TB, size int, addr uint64) *Region {
	t.Helper()
	r, err := NewRegion(pageAligned(size), addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pageAligned returns size bytes starting at a 4096-byte boundary.
func pageAligned(size int) []byte {
	raw := make([]byte, size+RegionPageSize)
	skip := int(-uintptr(unsafe.Pointer(&raw[0])) & (RegionPageSize - 1))
	return raw[skip : skip+size : skip+size]
}

func TestQueueLayoutIsLegacy(t *testing.T) {
	for _, n := range []uint16{4, 8, 256, 1024} {
		total, avail, used := QueueLayout(n)
		if avail != 16*int(n) || used%4096 != 0 || used < avail+6+2*int(n) || total != used+8+8*int(n) {
			t.Errorf("size %d: layout %d %d %d", n, total, avail, used)
		}
		if err := checkLegacyLayout(n, 4096, 4096+uint64(avail), 4096+uint64(used)); err != nil {
			t.Errorf("size %d: %v", n, err)
		}
	}
}

func TestQueueSizeRoundsDown(t *testing.T) {
	region := newRegion(t, 1<<20, 0)
	for _, c := range []struct{ max, want uint16 }{{1000, 256}, {100, 64}, {4, 4}, {3, 2}} {
		q, err := NewSplitQueue(&fakeTransport{qmax: c.max}, region, 0, 256, 0)
		if err != nil {
			t.Fatal(err)
		}
		if q.Size() != c.want {
			t.Errorf("max %d: size %d, want %d", c.max, q.Size(), c.want)
		}
		q.Free()
	}
	if _, err := NewSplitQueue(&fakeTransport{qmax: 0}, region, 0, 256, 0); err == nil {
		t.Error("queue of size 0 accepted")
	}
	if n := region.Available(); n != 1<<20 {
		t.Errorf("leaked DMA memory: %d bytes free", n)
	}
}

// TestQueueWrapsIndices runs more than 65536 chains through a small
// queue, so both 16-bit indices wrap several times.
func TestQueueWrapsIndices(t *testing.T) {
	for _, features := range []Features{0, FeatureSet(EventIdx), FeatureSet(IndirectDesc), FeatureSet(IndirectDesc, EventIdx)} {
		q, dev, region := newTestQueue(t, 8, features)
		table, tableAddr, _ := region.Alloc(16*4, 16)
		var pending []int
		for i := range 3 * 65536 {
			bufs := []Buffer{{Addr: 0x1000, Len: 16}, {Addr: 0x2000, Len: uint32(i%512 + 1), Writable: true}, {Addr: 0x3000, Len: 1, Writable: true}}
			var err error
			if features.Has(IndirectDesc) && i%2 == 0 && len(pending) == 0 {
				err = q.AddIndirect(table, tableAddr, bufs, i)
			} else {
				err = q.Add(bufs, i)
			}
			if errors.Is(err, ErrQueueFull) {
				t.Fatalf("%v: queue full with %d in flight", features, q.InFlight())
			}
			if err != nil {
				t.Fatal(err)
			}
			pending = append(pending, i)
			if i%2 == 1 || i == 3*65536-1 {
				q.Notify()
				for {
					tok, n, ok, err := q.Next()
					if err != nil {
						t.Fatal(err)
					}
					if !ok {
						break
					}
					if tok != pending[0] || n != uint32(tok%512+2) {
						t.Fatalf("%v: completion %d len %d, want %d len %d", features, tok, n, pending[0], pending[0]%512+2)
					}
					pending = pending[1:]
				}
				if len(pending) != 0 {
					t.Fatalf("%v: %d chains not completed", features, len(pending))
				}
			}
		}
		if q.NumFree() != 8 || q.InFlight() != 0 {
			t.Errorf("%v: %d free, %d in flight after draining", features, q.NumFree(), q.InFlight())
		}
		if last := dev.chains[len(dev.chains)-1]; len(last) != 3 || last[1].Len != uint32((3*65536-1)%512+1) {
			t.Errorf("device saw chain %+v", last)
		}
	}
}

func TestQueueFullAndFIFOReuse(t *testing.T) {
	q, dev, _ := newTestQueue(t, 4, 0)
	dev.hold = true
	bufs := []Buffer{{Addr: 0x1000, Len: 16}, {Addr: 0x3000, Len: 1, Writable: true}}
	for i := range 2 {
		if err := q.Add(bufs, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Add(bufs, 2); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("fifth descriptor: %v", err)
	}
	q.Notify()
	// Complete the second chain first: out of order completion.
	dev.complete(dev.held[1], 1)
	tok, _, ok, err := q.Next()
	if err != nil || !ok || tok != 1 {
		t.Fatalf("Next = %d %v %v", tok, ok, err)
	}
	// Freed descriptors go to the back of the free list: the next chain
	// must not reuse head dev.held[1] while others are free.
	if err := q.Add(bufs, 3); err != nil {
		t.Fatal(err)
	}
	if q.NumFree() != 0 {
		t.Fatalf("free %d", q.NumFree())
	}
	dev.complete(dev.held[0], 1)
	if tok, _, ok, err := q.Next(); err != nil || !ok || tok != 0 {
		t.Fatalf("Next = %d %v %v", tok, ok, err)
	}
}

func TestQueueEventIdxSuppressesNotifications(t *testing.T) {
	q, dev, _ := newTestQueue(t, 16, FeatureSet(EventIdx))
	ft := dev.t
	ft.onNotify = nil // the device does not serve: avail_event stays at 0
	bufs := []Buffer{{Addr: 0x1000, Len: 16}}
	q.Add(bufs, 0)
	if !q.Notify() {
		t.Fatal("first notification suppressed")
	}
	q.Add(bufs, 1)
	if q.Notify() {
		t.Fatal("notified although avail_event asked only for index 0")
	}
	dev.serve() // device catches up and sets avail_event = 2
	q.Add(bufs, 2)
	if !q.Notify() || ft.notifies != 2 {
		t.Fatalf("notifies %d, want 2", ft.notifies)
	}
}

func TestQueueNoNotifyFlag(t *testing.T) {
	q, dev, _ := newTestQueue(t, 16, 0)
	dev.t.onNotify = nil
	q.store32(q.usedOff, usedFNoNotify) // the device sets VIRTQ_USED_F_NO_NOTIFY
	q.Add([]Buffer{{Addr: 0x1000, Len: 16}}, 0)
	if q.Notify() {
		t.Fatal("notified despite NO_NOTIFY")
	}
}

func TestQueueRejectsLies(t *testing.T) {
	cases := []struct {
		name string
		lie  func(id, n uint32) (uint32, uint32)
		jump bool
	}{
		{"id out of range", func(id, n uint32) (uint32, uint32) { return 300, n }, false},
		{"id not in flight", func(id, n uint32) (uint32, uint32) { return (id + 1) % 8, n }, false},
		{"len too long", func(id, n uint32) (uint32, uint32) { return id, n + 1 }, false},
		{"idx jump", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, dev, _ := newTestQueue(t, 8, 0)
			dev.lie = c.lie
			q.Add([]Buffer{{Addr: 0x1000, Len: 16}, {Addr: 0x2000, Len: 512, Writable: true}}, 7)
			if c.jump {
				dev.hold = true
			}
			q.Notify()
			if c.jump {
				q.store32(q.usedOff, uint32(9)<<16)
			}
			_, _, ok, err := q.Next()
			if ok || !errors.Is(err, ErrDeviceBroken) {
				t.Fatalf("Next = %v %v, want ErrDeviceBroken", ok, err)
			}
			if err := q.Add([]Buffer{{Addr: 0x1000, Len: 16}}, 1); !errors.Is(err, ErrDeviceBroken) {
				t.Fatalf("Add after broken = %v", err)
			}
		})
	}
}

func TestQueueDoubleCompletion(t *testing.T) {
	q, dev, _ := newTestQueue(t, 8, 0)
	q.Add([]Buffer{{Addr: 0x1000, Len: 16}}, 1)
	q.Notify()
	if _, _, ok, err := q.Next(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	q.Add([]Buffer{{Addr: 0x1000, Len: 16}}, 2) // keep something in flight
	dev.complete(0, 0)                          // head 0 again: its chain is done
	if _, _, ok, err := q.Next(); ok || !errors.Is(err, ErrDeviceBroken) {
		t.Fatalf("double completion: %v %v", ok, err)
	}
}

func TestInitOrder(t *testing.T) {
	ft := &fakeTransport{offered: FeatureSet(IndirectDesc, Version1, 5)}
	got, err := Init(ft, FeatureSet(IndirectDesc, EventIdx, Version1))
	if err != nil {
		t.Fatal(err)
	}
	if got != FeatureSet(IndirectDesc, Version1) || ft.driver != got {
		t.Errorf("negotiated %#x, driver wrote %#x", got, ft.driver)
	}
	want := []uint8{0, StatusAcknowledge, StatusAcknowledge | StatusDriver, StatusAcknowledge | StatusDriver | StatusFeaturesOK}
	if !slices.Equal(ft.statusLog, want) {
		t.Errorf("status writes %v, want %v", ft.statusLog, want)
	}
	if err := Ready(ft); err != nil || ft.status&StatusDriverOK == 0 {
		t.Errorf("Ready: %v, status %#x", err, ft.status)
	}

	// Legacy: 32 bits only, no FEATURES_OK.
	ft = &fakeTransport{legacy: true, offered: FeatureSet(IndirectDesc, 5)}
	got, err = Init(ft, FeatureSet(IndirectDesc, Version1, 5))
	if err != nil || got != FeatureSet(IndirectDesc, 5) || ft.status&StatusFeaturesOK != 0 {
		t.Errorf("legacy: %#x %v status %#x", got, err, ft.status)
	}

	// A device that refuses FEATURES_OK, or a modern one without VERSION_1.
	ft = &fakeTransport{offered: FeatureSet(Version1), rejectFeature: true}
	if _, err := Init(ft, FeatureSet(Version1)); !errors.Is(err, ErrDeviceBroken) || ft.status&StatusFailed == 0 {
		t.Errorf("FEATURES_OK refused: %v, status %#x", err, ft.status)
	}
	ft = &fakeTransport{offered: FeatureSet(IndirectDesc)}
	if _, err := Init(ft, FeatureSet(IndirectDesc, Version1)); !errors.Is(err, ErrDeviceBroken) || ft.status&StatusFailed == 0 {
		t.Errorf("no VERSION_1: %v, status %#x", err, ft.status)
	}
	ft.status = StatusDriverOK | StatusDeviceNeedsReset
	if err := CheckStatus(ft); !errors.Is(err, ErrNeedsReset) {
		t.Errorf("CheckStatus = %v", err)
	}
}

func TestFeatureNames(t *testing.T) {
	got := FeatureSet(6, IndirectDesc, Version1, 9).Names(func(f Feature) string {
		if f == 6 {
			return "BLK_SIZE"
		}
		return ""
	})
	want := []string{"BLK_SIZE", "bit 9", "INDIRECT_DESC", "VERSION_1"}
	if !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
}

// BenchmarkQueueRoundTrip measures one three-buffer chain through the
// ring: Add, Notify (suppressed by the event index), the fake device's
// completion, Next.
func BenchmarkQueueRoundTrip(b *testing.B) {
	for _, c := range []struct {
		name     string
		features Features
	}{{"direct", FeatureSet(EventIdx)}, {"indirect", FeatureSet(EventIdx, IndirectDesc)}} {
		b.Run(c.name, func(b *testing.B) {
			q, dev, region := newTestQueue(b, 256, c.features)
			dev.t.onNotify = nil
			dev.chains = nil
			table, tableAddr, _ := region.Alloc(64, 16)
			bufs := []Buffer{{Addr: 0x1000, Len: 16}, {Addr: 0x2000, Len: 4096, Writable: true}, {Addr: 0x3000, Len: 1, Writable: true}}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if c.features.Has(IndirectDesc) {
					q.AddIndirect(table, tableAddr, bufs, i)
				} else {
					q.Add(bufs, i)
				}
				q.Notify()
				// Complete without recording the chain.
				dev.lastAvail++
				dev.complete(uint32(lastHead(q)), 4097)
				if _, _, ok, err := q.Next(); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

// lastHead is the head the driver published last.
func lastHead(q *SplitQueue) uint16 {
	i := q.availOff + 4 + 2*int((q.availIdx-1)&q.mask)
	return uint16(q.mem[i]) | uint16(q.mem[i+1])<<8
}
