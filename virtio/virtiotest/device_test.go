package virtiotest

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
)

const allFeatures = ^uint64(0)

func TestIdentity(t *testing.T) {
	for _, tr := range []Transport{MMIOModern, MMIOLegacy} {
		m, err := New(Config{Transport: tr, Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		r := m.MMIO()
		wantVer := uint32(2)
		if tr == MMIOLegacy {
			wantVer = 1
		}
		if r.Read32(mmioMagicValue) != 0x74726976 || r.Read32(mmioVersion) != wantVer ||
			r.Read32(mmioDeviceID) != 2 || r.Read32(mmioVendorID) != 0x554d4551 {
			t.Errorf("%v: identity registers %#x %d %d %#x", tr, r.Read32(0), r.Read32(4), r.Read32(8), r.Read32(12))
		}
		if _, err := m.PCI().BAR(0); err == nil {
			t.Errorf("%v: PCI BAR on an MMIO device", tr)
		}
		m.Close()
	}
}

// TestReadWrite drives a write and a read through a hand-built ring on
// every transport, in the device goroutine and synchronously.
func TestReadWrite(t *testing.T) {
	for _, tr := range allTransports {
		for _, sync := range []bool{false, true} {
			t.Run(name(tr, sync), func(t *testing.T) {
				d := newDrv(t, Config{Transport: tr, Sync: sync, Serial: "model-serial"}, allFeatures)
				if got := uint64(d.h.config32(cfgCapacity)); got != 16<<20>>9 {
					t.Errorf("capacity %d", got)
				}
				if tr.legacy() == (d.feats&bit(featVersion1) != 0) {
					t.Errorf("features %#x: VERSION_1 on legacy or missing on modern", d.feats)
				}
				// A write in two segments of different sizes, read back
				// in three.
				w1, w2 := d.dmaBuf(1024, 1), d.dmaBuf(2048, 7)
				checkStatus(t, "write", d.req(blkTOut, 8, [][]byte{w1, w2}, false, false), blkSOK)
				want := append(append([]byte{}, w1...), w2...)
				if !bytes.Equal(d.m.Disk().Bytes()[8*512:8*512+3072], want) {
					t.Fatal("disk does not hold what was written")
				}
				r1, r2, r3 := d.dmaBuf(512, 0), d.dmaBuf(1536, 0), d.dmaBuf(1024, 0)
				checkStatus(t, "read", d.req(blkTIn, 8, [][]byte{r1, r2, r3}, true, false), blkSOK)
				got := append(append(append([]byte{}, r1...), r2...), r3[:1024]...)
				if !bytes.Equal(got, want) {
					t.Fatal("read back differs")
				}
				id := d.dmaBuf(blkIDBytes, 0)
				checkStatus(t, "get-id", d.req(blkTGetID, 0, [][]byte{id}, true, false), blkSOK)
				if string(bytes.TrimRight(id, "\x00")) != "model-serial" {
					t.Errorf("GET_ID %q", id)
				}
				checkStatus(t, "flush", d.req(blkTFlush, 0, nil, false, false), blkSOK)
				checkStatus(t, "unknown", d.req(99, 0, nil, false, false), blkSUnsupp)
				checkStatus(t, "beyond end", d.req(blkTIn, 16<<20>>9-1, [][]byte{r2}, true, false), blkSIOErr)
				checkStatus(t, "partial sector", d.req(blkTIn, 0, [][]byte{r1[:100]}, true, false), blkSIOErr)
				if d.m.Requests() != 7 {
					t.Errorf("Requests() = %d, want 7", d.m.Requests())
				}
				if d.m.BadAccesses() != 0 {
					t.Errorf("%d bad accesses by a correct driver, last: %s", d.m.BadAccesses(), d.m.LastBadAccess())
				}
			})
		}
	}
}

// TestLegacyLayout puts the used ring at a QueueAlign other than 4096
// (virtio-mmio version 1) and checks the device finds it there.
func TestLegacyLayout(t *testing.T) {
	for _, align := range []uint32{4, 64, 4096, 8192} {
		m, err := New(Config{Transport: MMIOLegacy, QueueSize: 16})
		if err != nil {
			t.Fatal(err)
		}
		d := initDrv(t, m, allFeatures, align)
		if d.usedA%uint64(align) != 0 || d.usedA < d.availA+6+2*16 {
			t.Fatalf("test layout wrong")
		}
		checkStatus(t, "read", d.req(blkTIn, 0, [][]byte{d.dmaBuf(512, 0)}, true, false), blkSOK)
		if got := m.MMIO().Read32(mmioQueuePFN); uint64(got) != d.descA/4096 {
			t.Errorf("QueuePFN reads %#x", got)
		}
		m.Close()
	}
}

func TestFeatureNegotiation(t *testing.T) {
	for _, tr := range []Transport{MMIOModern, PCIModern} {
		m, err := New(Config{Transport: tr, Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		h := hostFor(t, m)
		offered := h.deviceFeatures()
		for _, c := range []struct {
			name  string
			feats uint64
			ok    bool
		}{
			{"without VERSION_1", offered &^ bit(featVersion1), false},
			{"not offered", offered | bit(12), false},
			{"all offered", offered, true},
			{"VERSION_1 only", bit(featVersion1), true},
		} {
			h.setStatus(0)
			h.setStatus(statusAcknowledge | statusDriver)
			h.setDriverFeatures(c.feats)
			h.setStatus(statusAcknowledge | statusDriver | statusFeaturesOK)
			if got := h.status()&statusFeaturesOK != 0; got != c.ok {
				t.Errorf("%v %s: FEATURES_OK kept %v", tr, c.name, got)
			}
		}
		m.Close()
	}
	// Legacy devices take the features at once, masked to the offered.
	m, _ := New(Config{Transport: PCILegacy, Sync: true, Features: bit(featBlkFlush) | bit(featIndirectDesc)})
	defer m.Close()
	h := hostFor(t, m)
	h.setDriverFeatures(bit(featBlkFlush) | bit(featEventIdx))
	if _, neg := m.Features(); neg != bit(featBlkFlush) {
		t.Errorf("legacy negotiated %#x", neg)
	}
}

func TestReset(t *testing.T) {
	for _, tr := range allTransports {
		d := newDrv(t, Config{Transport: tr, Sync: true}, allFeatures)
		d.h.setStatus(0)
		if d.h.status() != 0 {
			t.Errorf("%v: status %#x after reset", tr, d.h.status())
		}
		// The queue is gone: a notification serves nothing.
		bufs, _ := d.blkBufs(blkTFlush, 0, nil, false)
		d.publish(d.addChain(bufs))
		d.h.notify()
		if d.m.Requests() != 0 {
			t.Errorf("%v: request served after reset", tr)
		}
		switch h := d.h.(type) {
		case mmioHost:
			if !h.v1 && h.r.Read32(mmioQueueReady) != 0 {
				t.Errorf("%v: QueueReady after reset", tr)
			}
		case *pciModernHost:
			if h.bar.Read16(h.common+commonQEnable) != 0 {
				t.Errorf("%v: queue_enable after reset", tr)
			}
		}
		// And it works again after a new initialisation.
		d2 := initDrv(t, d.m, allFeatures, legacyPCIAlign)
		checkStatus(t, "flush after reset", d2.req(blkTFlush, 0, nil, false, false), blkSOK)
	}
}

func TestNeedsResetHook(t *testing.T) {
	d := newDrv(t, Config{Transport: PCIModern, Sync: true}, allFeatures)
	d.m.SetNeedsReset()
	if d.h.status()&statusDeviceNeedsReset == 0 {
		t.Fatal("DEVICE_NEEDS_RESET not visible")
	}
	if d.h.isr()&interruptConfigChange == 0 {
		t.Error("no configuration change interrupt")
	}
	bufs, _ := d.blkBufs(blkTFlush, 0, nil, false)
	d.publish(d.addChain(bufs))
	d.h.notify()
	if d.m.Requests() != 0 {
		t.Error("served a request while needing reset")
	}
	d.h.setStatus(0)
	if d.h.status() != 0 || d.m.Fault() != "" {
		t.Error("reset did not clear DEVICE_NEEDS_RESET")
	}
}

func TestIndirect(t *testing.T) {
	for _, tr := range allTransports {
		// Eight data segments through a queue of four descriptors
		// (seg_max raised from its default of QueueSize-2).
		d := newDrv(t, Config{Transport: tr, QueueSize: 4, SegMax: 8, Sync: true}, allFeatures)
		var segs [][]byte
		for i := 0; i < 8; i++ {
			segs = append(segs, d.dmaBuf(512, byte(i*16)))
		}
		checkStatus(t, "indirect write", d.req(blkTOut, 100, segs, false, true), blkSOK)
		for i, s := range segs {
			if !bytes.Equal(d.m.Disk().Bytes()[(100+i)*512:][:512], s) {
				t.Fatalf("%v: segment %d not written", tr, i)
			}
		}
		back := d.dmaBuf(4096, 0)
		checkStatus(t, "indirect read", d.req(blkTIn, 100, [][]byte{back}, true, true), blkSOK)
		if !bytes.Equal(back, d.m.Disk().Bytes()[100*512:][:4096]) {
			t.Fatalf("%v: indirect read wrong", tr)
		}
	}
	// Without the feature the device refuses indirect descriptors.
	d := newDrv(t, Config{Transport: MMIOModern, Sync: true}, allFeatures&^bit(featIndirectDesc))
	bufs, _ := d.blkBufs(blkTFlush, 0, nil, false)
	d.publish(d.addIndirect(bufs))
	d.h.notify()
	if d.h.status()&statusDeviceNeedsReset == 0 || !strings.Contains(d.m.Fault(), "INDIRECT_DESC") {
		t.Errorf("indirect without the feature: status %#x fault %q", d.h.status(), d.m.Fault())
	}
}

func TestEventIdx(t *testing.T) {
	for _, tr := range allTransports {
		d := newDrv(t, Config{Transport: tr, QueueSize: 8, Sync: true}, allFeatures)
		if d.feats&bit(featEventIdx) == 0 {
			t.Fatal("EVENT_IDX not offered")
		}
		usedEvent := d.avail[4+2*int(d.num):]
		availEvent := d.used[4+8*int(d.num):]
		d.h.isr()
		// used_event far ahead: no interrupt for 20 requests, across the
		// 16-bit used index wrap of a queue of 8.
		put16(usedEvent, 1000)
		for i := 0; i < 20; i++ {
			d.req(blkTFlush, 0, nil, false, false)
			if got := get16(availEvent); got != d.availIdx {
				t.Fatalf("%v: avail_event %d, want %d", tr, got, d.availIdx)
			}
		}
		if d.h.isr()&interruptUsedBuffer != 0 || d.m.Interrupts() != 0 {
			t.Errorf("%v: interrupt despite used_event", tr)
		}
		// used_event = the next used index: one interrupt.
		put16(usedEvent, d.lastUsed)
		d.req(blkTFlush, 0, nil, false, false)
		if d.h.isr()&interruptUsedBuffer == 0 || d.m.Interrupts() != 1 {
			t.Errorf("%v: no interrupt at used_event", tr)
		}
	}
	// Without EVENT_IDX: VIRTQ_AVAIL_F_NO_INTERRUPT suppresses, and the
	// device clears VIRTQ_USED_F_NO_NOTIFY when it is done.
	d := newDrv(t, Config{Transport: MMIOModern, Sync: true}, allFeatures&^bit(featEventIdx))
	d.setAvailFlags(availFNoInterrupt)
	d.req(blkTFlush, 0, nil, false, false)
	if d.m.Interrupts() != 0 {
		t.Error("interrupt despite VIRTQ_AVAIL_F_NO_INTERRUPT")
	}
	d.setAvailFlags(0)
	d.req(blkTFlush, 0, nil, false, false)
	if d.m.Interrupts() != 1 || d.usedFlags() != 0 {
		t.Errorf("interrupts %d used flags %#x", d.m.Interrupts(), d.usedFlags())
	}
}

// TestUsedIndexWrap runs more than 65536 requests through a small queue.
func TestUsedIndexWrap(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	d := newDrv(t, Config{Transport: MMIOModern, QueueSize: 4, Sync: true}, allFeatures)
	bufs, st := d.blkBufs(blkTFlush, 0, nil, false)
	for i := 0; i < 65536+10; i++ {
		head := d.addChain(bufs)
		d.publish(head)
		d.h.notify()
		if id, _ := d.usedElem(d.lastUsed); d.usedIdx() != d.lastUsed+1 || id != uint32(head) || st[0] != blkSOK {
			t.Fatalf("request %d: used idx %d id %d", i, d.usedIdx(), id)
		}
		d.lastUsed++
	}
}

// TestBadChains: what a broken driver writes puts the device into
// DEVICE_NEEDS_RESET, never a panic.
func TestBadChains(t *testing.T) {
	cases := []struct {
		name  string
		fault string
		build func(d *drv)
	}{
		{"head out of range", "out of range", func(d *drv) { d.publish(d.num) }},
		{"loop", "loops", func(d *drv) {
			h, _ := d.alloc(16, 8)
			putDesc(d.desc, 0, d.addr(h), 16, descFNext, 1)
			putDesc(d.desc, 1, d.addr(h), 16, descFNext, 0)
			d.publish(0)
		}},
		{"next out of range", "out of range", func(d *drv) {
			h, _ := d.alloc(16, 8)
			putDesc(d.desc, 0, d.addr(h), 16, descFNext, 200)
			d.publish(0)
		}},
		{"zero length", "zero-sized", func(d *drv) {
			h, _ := d.alloc(16, 8)
			putDesc(d.desc, 0, d.addr(h), 0, 0, 0)
			d.publish(0)
		}},
		{"outside memory", "outside", func(d *drv) {
			putDesc(d.desc, 0, DMABase+1<<40, 16, 0, 0)
			d.publish(0)
		}},
		{"length overflows", "outside", func(d *drv) {
			putDesc(d.desc, 0, DMABase+4096, 0xffffffff, 0, 0)
			d.publish(0)
		}},
		{"readable after writable", "after", func(d *drv) {
			bufs, _ := d.blkBufs(blkTIn, 0, nil, false)
			bufs[0].write, bufs[1].write = true, false
			d.publish(d.addChain(bufs))
		}},
		{"no status", "status", func(d *drv) {
			h, _ := d.alloc(16, 8)
			d.publish(d.addChain([]buf{{h, false}}))
		}},
		{"short header", "too short", func(d *drv) {
			h, _ := d.alloc(8, 8)
			s, _ := d.alloc(1, 1)
			d.publish(d.addChain([]buf{{h, false}, {s, true}}))
		}},
		{"indirect table size", "indirect", func(d *drv) {
			t, _ := d.alloc(20, 16)
			putDesc(d.desc, 0, d.addr(t), 20, descFIndirect, 0)
			d.publish(0)
		}},
		{"indirect with next", "NEXT", func(d *drv) {
			t, _ := d.alloc(32, 16)
			putDesc(d.desc, 0, d.addr(t), 32, descFIndirect|descFNext, 1)
			d.publish(0)
		}},
		{"nested indirect", "inside an indirect", func(d *drv) {
			t, _ := d.alloc(32, 16)
			putDesc(t, 0, d.addr(t), 32, descFIndirect, 0)
			putDesc(d.desc, 0, d.addr(t), 32, descFIndirect, 0)
			d.publish(0)
		}},
		{"avail idx jump", "moved", func(d *drv) {
			d.availIdx += d.num + 1
			d.setAvailFlags(0)
		}},
	}
	for _, c := range cases {
		for _, tr := range []Transport{MMIOModern, PCILegacy} {
			d := newDrv(t, Config{Transport: tr, QueueSize: 8, Sync: true}, allFeatures)
			c.build(d)
			d.h.notify()
			if d.h.status()&statusDeviceNeedsReset == 0 || !strings.Contains(d.m.Fault(), c.fault) {
				t.Errorf("%s on %v: status %#x fault %q", c.name, tr, d.h.status(), d.m.Fault())
			}
			if d.usedIdx() != 0 {
				t.Errorf("%s on %v: completed", c.name, tr)
			}
		}
	}
}

func TestBadQueueSetup(t *testing.T) {
	m, _ := New(Config{Transport: MMIOModern, Sync: true})
	defer m.Close()
	r := m.MMIO()
	r.Write32(mmioStatus, statusAcknowledge|statusDriver)
	r.Write32(mmioQueueSel, 0)
	r.Write32(mmioQueueNum, 6) // not a power of two
	r.Write32(mmioQueueReady, 1)
	if m.Status()&statusDeviceNeedsReset == 0 || r.Read32(mmioQueueReady) != 0 {
		t.Errorf("queue size 6 accepted: fault %q", m.Fault())
	}
}

func TestDriverOKWithoutFeaturesOK(t *testing.T) {
	m, _ := New(Config{Transport: PCIModern, Sync: true})
	defer m.Close()
	h := hostFor(t, m)
	h.setStatus(statusAcknowledge | statusDriver)
	h.setDriverFeatures(bit(featVersion1))
	h.setStatus(statusAcknowledge | statusDriver | statusDriverOK)
	if h.status()&statusDeviceNeedsReset == 0 || !strings.Contains(m.Fault(), "FEATURES_OK") {
		t.Errorf("status %#x fault %q", h.status(), m.Fault())
	}
}

func TestBusMasterRequired(t *testing.T) {
	m, _ := New(Config{Transport: PCIModern, Sync: true})
	defer m.Close()
	d := initDrv(t, m, allFeatures, legacyPCIAlign)
	c := m.PCI().Config()
	c.Write16(4, c.Read16(4)&^pciCommandBusMaster)
	bufs, _ := d.blkBufs(blkTFlush, 0, nil, false)
	d.publish(d.addChain(bufs))
	d.h.notify()
	if !strings.Contains(m.Fault(), "bus mastering") {
		t.Errorf("fault %q", m.Fault())
	}
}

func TestLies(t *testing.T) {
	for lie := LieUsedIDOutOfRange; lie < LieRandom; lie++ {
		t.Run(lie.String(), func(t *testing.T) {
			d := newDrv(t, Config{Transport: MMIOModern, QueueSize: 8, Lie: lie, LieAfter: 2, Seed: 1}, allFeatures)
			for i := 0; i < 2; i++ {
				checkStatus(t, "honest", d.req(blkTIn, 0, [][]byte{d.dmaBuf(512, 0)}, true, false), blkSOK)
			}
			data := d.dmaBuf(512, 0)
			bufs, st := d.blkBufs(blkTIn, 0, [][]byte{data}, true)
			head := d.addChain(bufs)
			second := (head + 1) % d.num
			d.publish(head)
			d.h.notify()
			idx := d.waitUsed()
			time.Sleep(time.Millisecond) // a second completion, if any, lands too
			idx = d.usedIdx()
			id, n := d.usedElem(d.lastUsed)
			adv := idx - d.lastUsed
			switch lie {
			case LieUsedIDOutOfRange:
				if id < uint32(d.num) || adv != 1 {
					t.Errorf("id %d adv %d", id, adv)
				}
			case LieUsedIDNotInFlight:
				if id != uint32(second) || adv != 1 {
					t.Errorf("id %d (head %d) adv %d", id, head, adv)
				}
			case LieUsedLenTooLong:
				if id != uint32(head) || n <= 513 || adv != 1 {
					t.Errorf("id %d len %d adv %d", id, n, adv)
				}
			case LieUsedIdxJump:
				if adv <= d.num {
					t.Errorf("used idx advanced by %d", adv)
				}
			case LieStatusByte:
				if st[0] <= blkSUnsupp || id != uint32(head) {
					t.Errorf("status %d id %d", st[0], id)
				}
			case LieDoubleComplete:
				id2, _ := d.usedElem(d.lastUsed + 1)
				if adv != 2 || id != uint32(head) || id2 != uint32(head) {
					t.Errorf("adv %d ids %d %d", adv, id, id2)
				}
			}
			if d.m.Requests() != 3 {
				t.Errorf("Requests() = %d", d.m.Requests())
			}
		})
	}
	// An indirect chain has no second ring descriptor: the lie picks an
	// index that is not available.
	d := newDrv(t, Config{Transport: MMIOModern, QueueSize: 8, Lie: LieUsedIDNotInFlight, Sync: true}, allFeatures)
	bufs, _ := d.blkBufs(blkTFlush, 0, nil, false)
	head, id, _ := d.do(bufs, true)
	if id == uint32(head) || id >= uint32(d.num) {
		t.Errorf("indirect: id %d head %d", id, head)
	}
}

func TestLieRandom(t *testing.T) {
	seen := map[string]bool{}
	for seed := int64(0); seed < 40; seed++ {
		d := newDrv(t, Config{Transport: MMIOModern, QueueSize: 8, Lie: LieRandom, Seed: seed, Sync: true}, allFeatures)
		bufs, st := d.blkBufs(blkTIn, 0, [][]byte{d.dmaBuf(512, 0)}, true)
		head := d.addChain(bufs)
		d.publish(head)
		d.h.notify()
		id, n := d.usedElem(0)
		switch adv := d.usedIdx(); {
		case adv == 2:
			seen["double"] = true
		case adv > d.num:
			seen["jump"] = true
		case id >= uint32(d.num):
			seen["range"] = true
		case id != uint32(head):
			seen["notinflight"] = true
		case n != 513:
			seen["len"] = true
		case st[0] > blkSUnsupp:
			seen["status"] = true
		default:
			t.Errorf("seed %d: honest answer", seed)
		}
	}
	if len(seen) != 6 {
		t.Errorf("40 seeds told only %v", seen)
	}
}

func TestLimits(t *testing.T) {
	d := newDrv(t, Config{Transport: PCIModern, QueueSize: 16, SegMax: 2, SizeMax: 1024, Sync: true}, allFeatures)
	if d.h.config32(cfgSegMax) != 2 || d.h.config32(cfgSizeMax) != 1024 || d.feats&bit(featBlkSizeMax) == 0 {
		t.Fatal("seg_max/size_max not offered")
	}
	a, b, c := d.dmaBuf(512, 0), d.dmaBuf(512, 0), d.dmaBuf(512, 0)
	checkStatus(t, "2 segments", d.req(blkTOut, 0, [][]byte{a, b}, false, false), blkSOK)
	checkStatus(t, "3 segments", d.req(blkTOut, 0, [][]byte{a, b, c}, false, false), blkSIOErr)
	checkStatus(t, "3 indirect", d.req(blkTIn, 0, [][]byte{a, b, c}, true, true), blkSIOErr)
	checkStatus(t, "1024 bytes", d.req(blkTIn, 0, [][]byte{d.dmaBuf(1024, 0)}, true, false), blkSOK)
	checkStatus(t, "1536 bytes", d.req(blkTIn, 0, [][]byte{d.dmaBuf(1536, 0)}, true, false), blkSIOErr)
	if d.m.LimitErrors() != 3 {
		t.Errorf("LimitErrors() = %d, want 3", d.m.LimitErrors())
	}
}

func TestBlkSize(t *testing.T) {
	disk := block.NewMem(block.Info{ReadWrite: true, SectorSize: 4096, Sectors: 256})
	d := newDrv(t, Config{Transport: MMIOLegacy, Disk: disk, Sync: true}, allFeatures)
	if d.h.config32(cfgBlkSize) != 4096 || d.h.config32(cfgCapacity) != 256*8 {
		t.Fatalf("blk_size %d capacity %d", d.h.config32(cfgBlkSize), d.h.config32(cfgCapacity))
	}
	w := d.dmaBuf(4096, 3)
	checkStatus(t, "aligned", d.req(blkTOut, 8, [][]byte{w}, false, false), blkSOK)
	if !bytes.Equal(disk.Bytes()[4096:8192], w) {
		t.Error("sector 8 (512-byte units) is not block 1")
	}
	checkStatus(t, "misaligned sector", d.req(blkTOut, 4, [][]byte{w}, false, false), blkSIOErr)
	checkStatus(t, "misaligned length", d.req(blkTIn, 8, [][]byte{w[:2048]}, true, false), blkSIOErr)
	checkStatus(t, "last block", d.req(blkTIn, 255*8, [][]byte{w}, true, false), blkSOK)
	checkStatus(t, "past the end", d.req(blkTIn, 256*8, [][]byte{w}, true, false), blkSIOErr)
}

func TestReadOnly(t *testing.T) {
	disk := block.NewMem(block.Info{ReadWrite: false, SectorSize: 512, Sectors: 64})
	d := newDrv(t, Config{Transport: PCILegacy, Disk: disk, Sync: true}, allFeatures)
	if d.feats&bit(featBlkRO) == 0 {
		t.Fatal("VIRTIO_BLK_F_RO not offered")
	}
	checkStatus(t, "write", d.req(blkTOut, 0, [][]byte{d.dmaBuf(512, 9)}, false, false), blkSIOErr)
	if disk.Bytes()[0] != 0 {
		t.Error("read-only disk written")
	}
	checkStatus(t, "read", d.req(blkTIn, 0, [][]byte{d.dmaBuf(512, 9)}, true, false), blkSOK)
	checkStatus(t, "write zeroes", d.req(blkTWriteZeroes, 0, [][]byte{dwz(d, 0, 1, 0)}, false, false), blkSIOErr)
}

func dwz(d *drv, sector uint64, num, flags uint32) []byte {
	b, _ := d.alloc(blkDWZSize, 8)
	put64(b, sector)
	put32(b[8:], num)
	put32(b[12:], flags)
	return b
}

func TestDiscardWriteZeroes(t *testing.T) {
	d := newDrv(t, Config{Transport: MMIOModern, Sync: true}, allFeatures)
	disk := d.m.Disk().Bytes()
	for i := range disk[:64*512] {
		disk[i] = 0xaa
	}
	checkStatus(t, "write zeroes", d.req(blkTWriteZeroes, 0, [][]byte{dwz(d, 2, 3, blkDWZUnmap)}, false, false), blkSOK)
	if disk[2*512-1] != 0xaa || disk[2*512] != 0 || disk[5*512-1] != 0 || disk[5*512] != 0xaa {
		t.Error("write zeroes zeroed the wrong range")
	}
	checkStatus(t, "discard", d.req(blkTDiscard, 0, [][]byte{dwz(d, 10, 1, 0)}, false, false), blkSOK)
	checkStatus(t, "discard with unmap", d.req(blkTDiscard, 0, [][]byte{dwz(d, 10, 1, blkDWZUnmap)}, false, false), blkSUnsupp)
	checkStatus(t, "unknown flag", d.req(blkTWriteZeroes, 0, [][]byte{dwz(d, 10, 1, 2)}, false, false), blkSUnsupp)
	checkStatus(t, "two segments", d.req(blkTDiscard, 0, [][]byte{dwz(d, 10, 1, 0), dwz(d, 12, 1, 0)}, false, false), blkSUnsupp)
	checkStatus(t, "past the end", d.req(blkTDiscard, 0, [][]byte{dwz(d, 16<<20>>9, 1, 0)}, false, false), blkSIOErr)
	checkStatus(t, "too many sectors", d.req(blkTWriteZeroes, 0, [][]byte{dwz(d, 0, qemuMaxRequestSectors+1, 0)}, false, false), blkSIOErr)
	if d.h.config32(cfgMaxDiscardSectors) != qemuMaxRequestSectors || d.h.config32(cfgMaxWZSeg) != 1 ||
		d.h.config32(cfgDiscardAlignment) != 1 {
		t.Error("discard/write-zeroes limits are not QEMU's")
	}
	// Without the features: UNSUPP.
	d2 := newDrv(t, Config{Transport: MMIOModern, Sync: true, Features: bit(featVersion1)}, allFeatures)
	checkStatus(t, "no discard", d2.req(blkTDiscard, 0, [][]byte{dwz(d2, 0, 1, 0)}, false, false), blkSUnsupp)
	checkStatus(t, "no flush", d2.req(blkTFlush, 0, nil, false, false), blkSUnsupp)
}

func TestFailIO(t *testing.T) {
	fail := func(write bool, sector int64) bool { return write && sector == 5 }
	d := newDrv(t, Config{Transport: MMIOModern, FailIO: fail, Sync: true}, allFeatures)
	checkStatus(t, "write 5", d.req(blkTOut, 5, [][]byte{d.dmaBuf(512, 1)}, false, false), blkSIOErr)
	if d.m.Disk().Bytes()[5*512] != 0 {
		t.Error("failed write wrote")
	}
	checkStatus(t, "write 6", d.req(blkTOut, 6, [][]byte{d.dmaBuf(512, 1)}, false, false), blkSOK)
	checkStatus(t, "read 5", d.req(blkTIn, 5, [][]byte{d.dmaBuf(512, 1)}, true, false), blkSOK)
}

func TestWrongWidth(t *testing.T) {
	m, _ := New(Config{Transport: MMIOModern, Sync: true})
	r := m.MMIO()
	n := m.BadAccesses()
	if r.Read16(mmioMagicValue) != 0 || r.Read8(mmioStatus) != 0 {
		t.Error("narrow MMIO read answered")
	}
	r.Write16(mmioStatus, statusAcknowledge)
	r.Read32(mmioQueuePFN)    // version 1 register
	r.Read32(mmioQueueNum)    // write-only
	r.Write32(mmioVersion, 1) // read-only
	if m.Status() != 0 {
		t.Error("narrow status write taken")
	}
	if got := m.BadAccesses() - n; got != 6 {
		t.Errorf("MMIO: %d bad accesses counted, want 6", got)
	}
	if got := m.LastBadAccess(); got != "32-bit write of mmio+0x4" {
		t.Errorf("LastBadAccess() = %q", got)
	}
	_ = r.Read16(mmioConfig + cfgNumQueues) // config space takes any width
	if m.BadAccesses()-n != 6 {
		t.Error("config space access counted")
	}
	m.Close()

	m, _ = New(Config{Transport: PCIModern, Sync: true})
	defer m.Close()
	h := newPCIModernHost(t, m.PCI())
	n = m.BadAccesses()
	h.bar.Write32(h.common+commonStatus, statusAcknowledge) // 8-bit field
	h.bar.Read32(h.common + commonQSelect)                  // 16-bit field
	h.bar.Write8(h.common+commonQSelect, 1)                 // 16-bit field
	h.bar.Read16(h.common + commonDF)                       // 32-bit field
	h.bar.Read16(h.common + commonQDescLo)                  // 64-bit field
	h.bar.Read32(h.isrOff)                                  // 8-bit ISR
	h.bar.Write32(h.common+commonNumQ-2, 0)                 // misaligned for 32 bits
	if m.Status() != 0 {
		t.Error("wrong-width status write taken")
	}
	if got := m.BadAccesses() - n; got != 7 {
		t.Errorf("PCI common: %d bad accesses counted, want 7", got)
	}
	n = m.BadAccesses()
	h.bar.Write32(h.common+commonQDescLo, 0x1000) // 32-bit halves and whole 64 are right
	h.bar.Write64(h.common+commonQUsedLo, 0x123456789000)
	if h.bar.Read64(h.common+commonQUsedLo) != 0x123456789000 || m.BadAccesses() != n {
		t.Error("64-bit queue address access")
	}

	m2, _ := New(Config{Transport: PCILegacy, Sync: true})
	defer m2.Close()
	io, _ := m2.PCI().BAR(0)
	n = m2.BadAccesses()
	io.Read32(legacyStatus)
	io.Write8(legacyQueueSelect, 0)
	io.Read64(0)
	if got := m2.BadAccesses() - n; got != 3 {
		t.Errorf("PCI legacy: %d bad accesses counted, want 3", got)
	}
}

func TestPCIConfigSpace(t *testing.T) {
	m, _ := New(Config{Transport: PCIModern, Sync: true})
	defer m.Close()
	c := m.PCI().Config()
	// The capability list in QEMU's order, all vendor caps in BAR4.
	var types []uint8
	for p := c.Read8(pciCapabilityListPtr); p != 0; p = c.Read8(uint32(p) + 1) {
		if c.Read8(uint32(p)) == pciCapIDVendor {
			types = append(types, c.Read8(uint32(p)+3))
		}
	}
	if !bytes.Equal(types, []byte{pciCapPCICfg, pciCapNotifyCfg, pciCapDeviceCfg, pciCapISRCfg, pciCapCommonCfg}) {
		t.Errorf("vendor capabilities %v", types)
	}
	if c.Read32(pciCapNotifyOff+16) != 4 {
		t.Error("notify_off_multiplier")
	}
	// BAR4 is 64-bit prefetchable memory of 16 KiB: size it.
	c.Write32(pciBAR4, 0xffffffff)
	if got := c.Read32(pciBAR4); got != 0xffffc00c {
		t.Errorf("BAR4 sizing reads %#x", got)
	}
	c.Write32(pciBAR4, pciBAR4Addr)
	// The command register holds what the driver writes.
	c.Write16(4, 0x0006)
	if c.Read16(4) != 0x0006 {
		t.Errorf("command %#x", c.Read16(4))
	}
	// With memory decoding off BAR4 reads all ones.
	c.Write16(4, 0)
	bar, _ := m.PCI().BAR(4)
	if bar.Read8(commonStatus) != 0xff {
		t.Error("BAR4 answers with decoding off")
	}
	// The PCI configuration access capability reaches BAR4: read
	// num_queues (16 bits at common+0x12).
	c.Write8(pciCfgCapBar, 4)
	c.Write32(pciCfgCapOffset, commonNumQ)
	c.Write32(pciCfgCapLength, 2)
	if got := c.Read16(pciCfgCapData); got != 1 {
		t.Errorf("num_queues through PCI_CFG: %d", got)
	}
	// And writes: device_status.
	c.Write32(pciCfgCapOffset, commonStatus)
	c.Write32(pciCfgCapLength, 1)
	c.Write8(pciCfgCapData, statusAcknowledge)
	if m.Status() != statusAcknowledge {
		t.Errorf("status through PCI_CFG: %#x", m.Status())
	}

	// Transitional device: MSI-X moves the device configuration.
	m2, _ := New(Config{Transport: PCILegacy, Sync: true})
	defer m2.Close()
	c2 := m2.PCI().Config()
	io, _ := m2.PCI().BAR(0)
	capLo := io.Read32(legacyConfig)
	if c2.Read8(pciCapabilityListPtr) != pciCapLegacyMSIXOff || c2.Read8(pciCapLegacyMSIXOff) != pciCapIDMSIX {
		t.Error("no MSI-X capability at 0x40")
	}
	c2.Write16(pciCapLegacyMSIXOff+2, pciMSIXEnable)
	if io.Read32(legacyConfigMSIX) != capLo || io.Read16(legacyConfigVector) != pciVirtioNoVector {
		t.Error("device configuration not at 24 with MSI-X enabled")
	}
	c2.Write32(pciBAR0, 0xffffffff)
	if got := c2.Read32(pciBAR0); got != 0xffffff81 {
		t.Errorf("BAR0 sizing reads %#x", got)
	}
}

func TestNew(t *testing.T) {
	for _, cfg := range []Config{
		{Transport: 9},
		{QueueSize: 2},
		{QueueSize: 100},
		{QueueSize: 2048},
		{BlkSize: 100},
		{Lie: 99},
		{DMASize: 100},
		{Disk: block.NewMem(block.Info{SectorSize: 256, Sectors: 8})},
	} {
		if m, err := New(cfg); err == nil {
			m.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestDMASizeLimit: a DMA size past the model's limit (2 GiB, 1 GiB on
// 32-bit machines where rounding it up must still fit an int) is an error
// naming the limit, never an overflow in make.
func TestDMASizeLimit(t *testing.T) {
	for _, size := range []int{maxDMASize + 1, math.MaxInt - 100, math.MaxInt} {
		m, err := New(Config{DMASize: size, Sync: true})
		if err == nil {
			m.Close()
			t.Errorf("DMASize %d accepted", size)
			continue
		}
		if want := fmt.Sprintf("..%d bytes", maxDMASize); !strings.Contains(err.Error(), want) {
			t.Errorf("DMASize %d: %v, want the limit %q named", size, err, want)
		}
	}
}

func TestCloseLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 10; i++ {
		m, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
		m.Close()
	}
	time.Sleep(10 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines %d -> %d", before, after)
	}
}

// BenchmarkRead4K is the device's cost per 4 KiB read through the hand
// driver; it must not allocate.
func BenchmarkRead4K(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(name(MMIOModern, sync), func(b *testing.B) {
			d := newDrv(b, Config{Transport: MMIOModern, Sync: sync}, allFeatures)
			bufs, st := d.blkBufs(blkTIn, 8, [][]byte{d.dmaBuf(4096, 0)}, true)
			b.ReportAllocs()
			b.SetBytes(4096)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d.nextDesc = 0
				d.publish(d.addChain(bufs))
				d.h.notify()
				for d.usedIdx() == d.lastUsed {
					runtime.Gosched()
				}
				d.lastUsed++
				if st[0] != blkSOK {
					b.Fatal("status", st[0])
				}
			}
		})
	}
}

// Words read from QEMU 7.2 (HMP xp) for a 16 MiB virtio-blk disk, after
// SeaBIOS: the device configuration, and the PCI configuration spaces of
// a modern (disable-legacy=on) and a transitional (disable-modern=on)
// virtio-blk-pci. The model must serve the same, except where noted.
var (
	qemuBlkConfig = []uint32{
		0x00008000, 0x00000000, 0x00000000, 0x000000fe,
		0x3f100020, 0x00000200, 0x00000000, 0x00000000,
		0x00010000, 0x003fffff, 0x00000001, 0x00000001,
		0x003fffff, 0x00000001, 0xffffffff, 0xffffffff,
	}
	qemuPCIModern = []uint32{
		0x10421af4, 0x00100107, 0x01000001, 0x00000000,
		0x00000000, 0xfebfd000, 0x00000000, 0x00000000,
		0xfebf800c, 0x00000000, 0x00000000, 0x11001af4,
		0x00000000, 0x00000098, 0x00000000, 0x0000010a,
		0x01100009, 0x00000004, 0x00000000, 0x00001000,
		0x03104009, 0x00000004, 0x00001000, 0x00001000,
		0x04105009, 0x00000004, 0x00002000, 0x00001000,
		0x02146009, 0x00000004, 0x00003000, 0x00001000,
		0x00000004, 0x05147009, 0x00000000, 0x00000000,
		0x00000000, 0x00000000, 0x00018411, 0x00000001,
		0x00000801, 0x00000000,
	}
	qemuPCILegacy = []uint32{
		0x10011af4, 0x00100107, 0x01000000, 0x00000000,
		0x0000c001, 0xfebfe000, 0x00000000, 0x00000000,
		0x00000000, 0x00000000, 0x00000000, 0x00021af4,
		0x00000000, 0x00000040, 0x00000000, 0x0000010b,
		0x00010011, 0x00000001, 0x00000801, 0x00000000,
	}
)

func TestMatchesQEMU(t *testing.T) {
	m, _ := New(Config{Transport: MMIOModern, Sync: true})
	defer m.Close()
	for i, want := range qemuBlkConfig {
		if i == 8 {
			want &^= 0xff // writeback: QEMU's write cache state; the model offers no CONFIG_WCE
		}
		if got := m.MMIO().Read32(mmioConfig + 4*uint32(i)); got != want {
			t.Errorf("config +%#x: %#x, QEMU %#x", 4*i, got, want)
		}
	}
	for _, c := range []struct {
		tr    Transport
		words []uint32
	}{{PCIModern, qemuPCIModern}, {PCILegacy, qemuPCILegacy}} {
		m, _ := New(Config{Transport: c.tr, Sync: true})
		cfg := m.PCI().Config()
		for i, want := range c.words {
			got := cfg.Read32(4 * uint32(i))
			switch 4 * i {
			case 0x04: // SeaBIOS enabled bus mastering and SERR; the model leaves them to the driver
				want &^= pciCommandBusMaster | 0x100
			case pciBAR0, pciBAR1, pciBAR4: // addresses the firmware picked
				got, want = got&0xfff, want&0xfff
			case pciInterruptLine:
				got, want = got&^0xff, want&^0xff
			}
			if got != want {
				t.Errorf("%v config %#x: %#x, QEMU %#x", c.tr, 4*i, got, want)
			}
		}
		m.Close()
	}
}

func TestChurnConfigGeneration(t *testing.T) {
	m, _ := New(Config{Transport: PCIModern, Sync: true})
	defer m.Close()
	h := newPCIModernHost(t, m.PCI())
	gen := func() uint8 { return h.bar.Read8(h.common + commonCfgGeneration) }
	// A driver's snapshot loop: generation, fields, generation again.
	snapshot := func() (tries int) {
		for tries = 1; tries < 100; tries++ {
			g := gen()
			_ = h.config32(cfgCapacity)
			_ = h.config32(cfgCapacity + 4)
			if gen() == g {
				return tries
			}
		}
		return tries
	}
	if n := snapshot(); n != 1 {
		t.Errorf("stable configuration took %d tries", n)
	}
	m.ChurnConfigGeneration(5)
	if n := snapshot(); n != 4 {
		t.Errorf("5 churning reads took %d tries, want 4", n)
	}
	m.ChurnConfigGeneration(1 << 20)
	if n := snapshot(); n != 100 {
		t.Errorf("endless churn gave a snapshot after %d tries", n)
	}
}
