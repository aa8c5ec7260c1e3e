package virtioblk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// TestConformance runs the block conformance suite over every transport,
// with and without indirect descriptors and the event index, for every
// power-of-two queue size from 4 to 256.
func TestConformance(t *testing.T) {
	sizes := []uint16{4, 8, 16, 32, 64, 128, 256}
	if testing.Short() {
		sizes = []uint16{4, 256}
	}
	for _, tr := range transports {
		all := offered(t, tr)
		for _, drop := range []struct {
			name string
			bits uint64
		}{
			{"all", 0},
			{"no-indirect", bit(virtio.IndirectDesc)},
			{"no-event-idx", bit(virtio.EventIdx)},
			{"neither", bit(virtio.IndirectDesc) | bit(virtio.EventIdx)},
		} {
			for _, qs := range sizes {
				t.Run(fmt.Sprintf("%v/%s/q%d", tr, drop.name, qs), func(t *testing.T) {
					d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, QueueSize: qs, Features: all &^ drop.bits})
					if got := d.QueueSize(); got != int(qs) {
						t.Errorf("queue size %d", got)
					}
					if err := blocktest.TestDevice(d); err != nil {
						t.Error(err)
					}
					modelClean(t, m)
				})
			}
		}
	}
}

// TestConformanceSync serves requests inside the notify write (the
// model's Sync mode), so completions are already there when the driver
// first looks.
func TestConformanceSync(t *testing.T) {
	for _, tr := range transports {
		for _, qs := range []uint16{4, 256} {
			t.Run(fmt.Sprintf("%v/q%d", tr, qs), func(t *testing.T) {
				d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, QueueSize: qs, Sync: true})
				if err := blocktest.TestDevice(d); err != nil {
					t.Error(err)
				}
				modelClean(t, m)
			})
		}
	}
}

func TestInfoAndFeatures(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, Serial: "tamaswap-1"})
			info := d.Info()
			if want := m.Disk().Info(); info != want {
				t.Errorf("Info = %+v, want %+v", info, want)
			}
			names := d.FeatureNames()
			for _, want := range []string{"SEG_MAX", "FLUSH", "INDIRECT_DESC", "EVENT_IDX"} {
				if !slices.Contains(names, want) {
					t.Errorf("features %v lack %s", names, want)
				}
			}
			if legacy := d.Transport().Legacy(); legacy == slices.Contains(names, "VERSION_1") {
				t.Errorf("legacy %v with features %v", legacy, names)
			}
			_, negotiated := m.Features()
			if virtio.Features(negotiated) != d.Features() {
				t.Errorf("model negotiated %#x, driver %#x", negotiated, uint64(d.Features()))
			}
			serial, err := d.Serial()
			if err != nil || serial != "tamaswap-1" {
				t.Errorf("Serial = %q, %v", serial, err)
			}
			if s := d.String(); s == "" {
				t.Error("empty String")
			}
			modelClean(t, m)
		})
	}
}

// TestBlockSize4096 is QEMU's logical_block_size=4096: capacity stays in
// 512-byte units, Info counts 4096-byte sectors.
func TestBlockSize4096(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			disk := block.NewMem(block.Info{ReadWrite: true, SectorSize: 4096, Sectors: 1024})
			d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, Disk: disk, QueueSize: 16})
			if info := d.Info(); info.SectorSize != 4096 || info.Sectors != 1024 {
				t.Fatalf("Info = %+v", info)
			}
			if err := blocktest.TestDevice(d); err != nil {
				t.Error(err)
			}
			buf := bytes.Repeat([]byte{7}, 4096)
			if err := d.Write(1000, buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(disk.Bytes()[1000*4096:1001*4096], buf) {
				t.Error("sector 1000 not at byte 1000*4096")
			}
			if err := d.Read(0, make([]byte, 512)); !errors.Is(err, block.ErrUnaligned) {
				t.Errorf("512-byte read: %v", err)
			}
			modelClean(t, m)
		})
	}
}

// TestSplitting makes the device's limits small: every request the
// driver sends must keep seg_max and size_max.
func TestSplitting(t *testing.T) {
	for _, c := range []virtiotest.Config{
		{SegMax: 1, SizeMax: 512},
		{SegMax: 2, SizeMax: 4096, QueueSize: 4},
		{SegMax: 3, SizeMax: 1536},
		{SegMax: 200, QueueSize: 256},
	} {
		for _, tr := range transports {
			c := c
			c.Transport, c.Packed, c.NumQueues = tr.Transport, tr.packed, tr.queues
			c.Features = offered(t, tr) | bit(FeatureSizeMax)
			if c.SizeMax == 0 {
				c.Features &^= bit(FeatureSizeMax)
			}
			t.Run(fmt.Sprintf("%v/seg%d/size%d", tr, c.SegMax, c.SizeMax), func(t *testing.T) {
				d, m := open(t, c)
				rng := rand.New(rand.NewPCG(1, 2))
				for range 50 {
					bufs, n := randomBufs(rng, d, 64)
					sector := rng.Int64N(d.Info().Sectors - n)
					for _, b := range bufs {
						fillRandom(rng, b)
					}
					if err := d.Write(sector, bufs...); err != nil {
						t.Fatal(err)
					}
					want := slices.Concat(bufs...)
					got := make([]byte, len(want))
					if err := d.Read(sector, got); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatal("read back differs")
					}
					if !bytes.Equal(m.Disk().Bytes()[sector*512:sector*512+int64(len(want))], want) {
						t.Fatal("disk differs")
					}
				}
				modelClean(t, m)
			})
		}
	}
}

// randomBufs returns up to max sectors in random buffers, some from
// AllocBuffer (zero copy), some from the heap (bounced).
func randomBufs(rng *rand.Rand, d *Device, maxSectors int) ([][]byte, int64) {
	ss := d.Info().SectorSize
	var bufs [][]byte
	var n int64
	for k := 1 + rng.IntN(6); k > 0; k-- {
		s := 1 + rng.IntN(maxSectors/4+1)
		var b []byte
		if rng.IntN(2) == 0 {
			if a, err := d.AllocBuffer(s * ss); err == nil {
				b = a
			}
		}
		if b == nil {
			b = make([]byte, s*ss)
		}
		bufs = append(bufs, b)
		n += int64(s)
	}
	return bufs, n
}

// fillRandom fills b from rng eight bytes at a time: a call a byte cost
// the fuzz targets a tenth of their time.
func fillRandom(rng *rand.Rand, b []byte) {
	for ; len(b) >= 8; b = b[8:] {
		binary.LittleEndian.PutUint64(b, rng.Uint64())
	}
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func TestReadOnly(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			disk := block.NewMem(block.Info{ReadWrite: false, SectorSize: 512, Sectors: 2048})
			d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, Disk: disk})
			if d.Info().ReadWrite || !slices.Contains(d.FeatureNames(), "RO") {
				t.Fatalf("Info %+v features %v", d.Info(), d.FeatureNames())
			}
			before := m.Requests()
			err := d.Write(0, make([]byte, 512))
			if !errors.Is(err, block.ErrReadOnly) {
				t.Errorf("Write = %v", err)
			}
			if err := d.WriteZeroes(0, 1); !errors.Is(err, block.ErrReadOnly) && !errors.Is(err, block.ErrUnimplemented) {
				t.Errorf("WriteZeroes = %v", err)
			}
			if m.Requests() != before {
				t.Error("a refused write reached the device")
			}
			if err := blocktest.TestDevice(d); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestUnimplemented(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			features := bit(FeatureSegMax)
			if tr.Transport == virtiotest.MMIOModern || tr.Transport == virtiotest.PCIModern {
				features |= bit(virtio.Version1)
			}
			d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, Features: features})
			if err := d.Flush(); !errors.Is(err, block.ErrUnimplemented) {
				t.Errorf("Flush = %v", err)
			}
			if err := d.Discard(0, 1); !errors.Is(err, block.ErrUnimplemented) {
				t.Errorf("Discard = %v", err)
			}
			if err := d.WriteZeroes(0, 1); !errors.Is(err, block.ErrUnimplemented) {
				t.Errorf("WriteZeroes = %v", err)
			}
			if err := blocktest.TestDevice(d); err != nil {
				t.Error(err)
			}
			modelClean(t, m)
		})
	}
}

func TestDiscardAndWriteZeroes(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues})
			disk := m.Disk().Bytes()
			ones := bytes.Repeat([]byte{0xa5}, 64*512)
			if err := d.Write(100, ones); err != nil {
				t.Fatal(err)
			}
			if err := d.WriteZeroes(110, 20); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(disk[110*512:130*512], make([]byte, 20*512)) || disk[109*512] != 0xa5 || disk[130*512] != 0xa5 {
				t.Error("write-zeroes hit the wrong sectors")
			}
			if err := d.Discard(140, 4); err != nil {
				t.Fatal(err)
			}
			if err := d.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := d.Discard(d.Info().Sectors, 1); !errors.Is(err, block.ErrOutOfRange) {
				t.Errorf("discard past the end: %v", err)
			}
			modelClean(t, m)
		})
	}
}

func TestFailIO(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, FailIO: func(write bool, sector int64) bool {
				return sector <= 40 && sector+256 > 40 // whichever request covers sector 40
			}})
			buf := make([]byte, 8*512)
			for _, err := range []error{d.Read(36, buf), d.Write(40, buf)} {
				var oe *block.OpError
				if !errors.Is(err, block.ErrIO) || errors.Is(err, virtio.ErrDeviceBroken) || !errors.As(err, &oe) {
					t.Errorf("got %v, want an I/O error", err)
				}
			}
			// The device stays usable.
			if err := d.Read(100, buf); err != nil {
				t.Errorf("read after I/O error: %v", err)
			}
			modelClean(t, m)
		})
	}
}

// TestLies checks each hostile behaviour: the call that meets it fails
// with ErrDeviceBroken, later calls fail likewise, and nothing panics.
func TestLies(t *testing.T) {
	lies := []virtiotest.Lie{
		virtiotest.LieUsedIDOutOfRange, virtiotest.LieUsedIDNotInFlight, virtiotest.LieUsedLenTooLong,
		virtiotest.LieUsedIdxJump, virtiotest.LieStatusByte, virtiotest.LieDoubleComplete,
	}
	for _, tr := range transports {
		for _, lie := range lies {
			for _, indirect := range []bool{true, false} {
				t.Run(fmt.Sprintf("%v/%v/indirect=%v", tr, lie, indirect), func(t *testing.T) {
					features := offered(t, tr)
					if !indirect {
						features &^= bit(virtio.IndirectDesc)
					}
					d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, Lie: lie, LieAfter: 5, Features: features, QueueSize: 16})
					d.SetTimeout(5 * time.Second)
					buf := make([]byte, 4096)
					var err error
					for i := 0; i < 50 && err == nil; i++ {
						if i%2 == 0 {
							err = d.Write(int64(i*8), buf)
						} else {
							err = d.Read(int64(i*8), buf)
						}
					}
					if !errors.Is(err, virtio.ErrDeviceBroken) || !errors.Is(err, block.ErrIO) {
						t.Fatalf("got %v, want ErrDeviceBroken", err)
					}
					if err := d.Read(0, buf); !errors.Is(err, virtio.ErrDeviceBroken) {
						t.Errorf("after: %v", err)
					}
					if err := d.Flush(); !errors.Is(err, virtio.ErrDeviceBroken) {
						t.Errorf("flush after: %v", err)
					}
					if s := m.Status(); s&virtio.StatusDriverOK != 0 {
						t.Errorf("device status %#x: not reset", s)
					}
				})
			}
		}
	}
}

// TestLiesConcurrent meets each lie with many requests in flight.
func TestLiesConcurrent(t *testing.T) {
	for lie := virtiotest.LieUsedIDOutOfRange; lie <= virtiotest.LieRandom; lie++ {
		t.Run(lie.String(), func(t *testing.T) {
			d, _ := open(t, virtiotest.Config{Transport: virtiotest.MMIOModern, Lie: lie, LieAfter: 100, Seed: int64(lie)})
			d.SetTimeout(5 * time.Second)
			var wg sync.WaitGroup
			var broken sync.Map
			for g := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 8192)
					for i := range 100 {
						err := d.Read(int64(g*64+i%8*8), buf)
						if err != nil {
							if !errors.Is(err, virtio.ErrDeviceBroken) {
								t.Errorf("goroutine %d: %v", g, err)
							}
							broken.Store(g, true)
							return
						}
					}
				}()
			}
			wg.Wait()
			n := 0
			broken.Range(func(any, any) bool { n++; return true })
			if n == 0 {
				t.Error("no goroutine saw the device broken")
			}
		})
	}
}

func TestNeedsReset(t *testing.T) {
	d, m := open(t, virtiotest.Config{Transport: virtiotest.PCIModern})
	buf := make([]byte, 512)
	if err := d.Read(0, buf); err != nil {
		t.Fatal(err)
	}
	m.SetNeedsReset()
	if err := d.Read(0, buf); !errors.Is(err, virtio.ErrNeedsReset) {
		t.Fatalf("Read = %v, want ErrNeedsReset", err)
	}
}

func TestInterrupts(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			d, m := openWired(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues})
			d.UseInterrupts(true)
			if err := blocktest.TestDevice(d); err != nil {
				t.Error(err)
			}
			if m.Interrupts() == 0 {
				t.Error("the device sent no interrupts")
			}
			// Completions come by interrupt: only those whose
			// interrupt was still on its way at a re-check (a loaded
			// machine) are found otherwise.
			if n, irqs := d.Stats().Rechecked, m.Interrupts(); n > irqs/2 {
				t.Errorf("%d completions found by re-checking, %d interrupts", n, irqs)
			}
		})
	}
}

func TestDisconnectFreesMemory(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			m, err := virtiotest.New(virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			free := m.DMA().Available()
			tp, err := attach(m, tr.Transport)
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(tp, m.DMA())
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Write(0, make([]byte, 4096)); err != nil {
				t.Fatal(err)
			}
			if err := blocktest.TestDisconnect(d); err != nil {
				t.Error(err)
			}
			if got := m.DMA().Available(); got != free {
				t.Errorf("DMA memory: %d free after Disconnect, %d before New", got, free)
			}
			if s := m.Status(); s != 0 {
				t.Errorf("status %#x after Disconnect", s)
			}
			// The device can be driven again.
			d, err = New(tp, m.DMA())
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Read(0, make([]byte, 512)); err != nil {
				t.Error(err)
			}
			d.Disconnect()
		})
	}
}

// TestConcurrentMixed runs 64 goroutines of mixed requests, each on its
// own range of sectors, and verifies every byte read back.
func TestConcurrentMixed(t *testing.T) {
	for _, tr := range transports {
		for _, qs := range []uint16{8, 256} {
			t.Run(fmt.Sprintf("%v/q%d", tr, qs), func(t *testing.T) {
				d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, QueueSize: qs})
				const goroutines, span = 64, 256 // sectors each
				var wg sync.WaitGroup
				for g := range goroutines {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rng := rand.New(rand.NewPCG(uint64(g), 7))
						shadow := make([]byte, span*512)
						base := int64(g * span)
						for i := range 40 {
							bufs, n := randomBufs(rng, d, 32)
							sector := rng.Int64N(span - n + 1)
							switch op := rng.IntN(10); {
							case op < 4:
								for _, b := range bufs {
									fillRandom(rng, b)
								}
								if err := d.Write(base+sector, bufs...); err != nil {
									t.Errorf("g%d op%d: %v", g, i, err)
									return
								}
								copy(shadow[sector*512:], slices.Concat(bufs...))
							case op < 8:
								if err := d.Read(base+sector, bufs...); err != nil {
									t.Errorf("g%d op%d: %v", g, i, err)
									return
								}
								if got := slices.Concat(bufs...); !bytes.Equal(got, shadow[sector*512:sector*512+int64(len(got))]) {
									t.Errorf("g%d op%d: read %d sectors at %d: wrong data", g, i, n, sector)
									return
								}
							case op < 9:
								if err := d.WriteZeroes(base+sector, n); err != nil {
									t.Errorf("g%d op%d: %v", g, i, err)
									return
								}
								clear(shadow[sector*512 : (sector+n)*512])
							default:
								if err := d.Flush(); err != nil {
									t.Errorf("g%d: flush: %v", g, err)
								}
							}
							for _, b := range bufs {
								d.FreeBuffer(b)
							}
						}
						buf := make([]byte, span*512)
						if err := d.Read(base, buf); err != nil || !bytes.Equal(buf, shadow) {
							t.Errorf("g%d: final read: %v", g, err)
						}
					}()
				}
				wg.Wait()
				modelClean(t, m)
			})
		}
	}
}

// The driver takes a packed queue where the device offers one (modern
// transports only), unless New is told SplitRing; the queue it set up
// is the format the device negotiated.
func TestRingFormat(t *testing.T) {
	for _, c := range []struct {
		tr     virtiotest.Transport
		packed bool
		opts   []Option
		want   string
	}{
		{virtiotest.MMIOModern, true, nil, "packed"},
		{virtiotest.PCIModern, true, nil, "packed"},
		{virtiotest.MMIOModern, true, []Option{SplitRing()}, "split"},
		{virtiotest.PCIModern, false, nil, "split"},
		{virtiotest.MMIOLegacy, true, nil, "split"},
		{virtiotest.PCILegacy, true, nil, "split"},
	} {
		m, err := virtiotest.New(virtiotest.Config{Transport: c.tr, Packed: c.packed})
		if err != nil {
			t.Fatal(err)
		}
		tp, err := attach(m, c.tr)
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(tp, m.DMA(), c.opts...)
		if err != nil {
			t.Fatalf("%v packed=%t: %v", c.tr, c.packed, err)
		}
		_, negotiated := m.Features()
		if got := d.Ring(); got != c.want || (negotiated&bit(virtio.RingPacked) != 0) != (c.want == "packed") {
			t.Errorf("%v offered packed=%t, options %d: ring %s, negotiated %#x; want %s", c.tr, c.packed, len(c.opts), got, negotiated, c.want)
		}
		buf := make([]byte, 4096)
		if err := d.Read(0, buf); err != nil {
			t.Errorf("%v %s: read: %v", c.tr, d.Ring(), err)
		}
		d.Disconnect()
		m.Close()
	}
}
