package virtio_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// memRegs is a register region backed by plain memory.
type memRegs []byte

func (m memRegs) Read8(off uint32) uint8       { return m[off] }
func (m memRegs) Read16(off uint32) uint16     { return binary.LittleEndian.Uint16(m[off:]) }
func (m memRegs) Read32(off uint32) uint32     { return binary.LittleEndian.Uint32(m[off:]) }
func (m memRegs) Read64(off uint32) uint64     { return binary.LittleEndian.Uint64(m[off:]) }
func (m memRegs) Write8(off uint32, v uint8)   { m[off] = v }
func (m memRegs) Write16(off uint32, v uint16) { binary.LittleEndian.PutUint16(m[off:], v) }
func (m memRegs) Write32(off uint32, v uint32) { binary.LittleEndian.PutUint32(m[off:], v) }
func (m memRegs) Write64(off uint32, v uint64) { binary.LittleEndian.PutUint64(m[off:], v) }
func (m memRegs) Barrier(virtio.Barrier)       {}

type pciFn struct{ cfg memRegs }

func (p pciFn) Config() virtio.Regs { return p.cfg }
func (p pciFn) BAR(n int) (virtio.Regs, error) {
	return nil, errors.New("no BARs")
}

func TestNewMMIORejects(t *testing.T) {
	r := make(memRegs, 0x200)
	if _, err := virtio.NewMMIO(r); !errors.Is(err, virtio.ErrNoDevice) {
		t.Errorf("no magic: %v", err)
	}
	r.Write32(0, 0x74726976)
	r.Write32(4, 3)
	if _, err := virtio.NewMMIO(r); !errors.Is(err, virtio.ErrNoDevice) {
		t.Errorf("version 3: %v", err)
	}
	r.Write32(4, 2)
	if _, err := virtio.NewMMIO(r); !errors.Is(err, virtio.ErrNoDevice) {
		t.Errorf("empty slot: %v", err)
	}
}

func TestNewPCIRejects(t *testing.T) {
	cfg := make(memRegs, 256)
	if _, err := virtio.NewPCI(pciFn{cfg}); !errors.Is(err, virtio.ErrNoDevice) {
		t.Errorf("vendor 0: %v", err)
	}
	// A modern device whose capability list loops on itself must not
	// hang the walk.
	cfg.Write16(0, 0x1af4)
	cfg.Write16(2, 0x1042)
	cfg.Write16(6, 1<<4)
	cfg.Write8(0x34, 0x40)
	cfg.Write8(0x40, 0x09)
	cfg.Write8(0x41, 0x40)
	if _, err := virtio.NewPCI(pciFn{cfg}); err == nil {
		t.Error("device without usable capabilities accepted")
	}
}

// TestTransportsAgainstModel runs the initialisation sequence over each
// transport of the device model.
func TestTransportsAgainstModel(t *testing.T) {
	for _, tr := range []virtiotest.Transport{virtiotest.MMIOModern, virtiotest.MMIOLegacy, virtiotest.PCIModern, virtiotest.PCILegacy} {
		t.Run(tr.String(), func(t *testing.T) {
			m, err := virtiotest.New(virtiotest.Config{Transport: tr, QueueSize: 64})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var tp virtio.Transport
			if tr == virtiotest.MMIOModern || tr == virtiotest.MMIOLegacy {
				tp, err = virtio.NewMMIO(m.MMIO())
			} else {
				tp, err = virtio.NewPCI(m.PCI())
			}
			if err != nil {
				t.Fatal(err)
			}
			legacy := tr == virtiotest.MMIOLegacy || tr == virtiotest.PCILegacy
			if tp.DeviceID() != 2 || tp.Legacy() != legacy {
				t.Fatalf("device %d legacy %v", tp.DeviceID(), tp.Legacy())
			}
			f, err := virtio.Init(tp, virtio.FeatureSet(virtio.IndirectDesc, virtio.Version1))
			if err != nil {
				t.Fatal(err)
			}
			if f.Has(virtio.Version1) == legacy {
				t.Errorf("negotiated %#x", uint64(f))
			}
			q, err := virtio.NewQueue(tp, m.DMA(), 0, 256, f)
			if err != nil {
				t.Fatal(err)
			}
			if q.Size() != 64 {
				t.Errorf("queue size %d", q.Size())
			}
			if _, err := tp.QueueMax(0); err == nil {
				t.Error("queue 0 not reported in use")
			}
			if err := virtio.Ready(tp); err != nil {
				t.Fatal(err)
			}
			var capacity uint64
			if err := virtio.ReadConfig(tp, func(r virtio.Regs) { capacity = virtio.ReadConfig64(tp, r, 0) }); err != nil || capacity != 32768 {
				t.Errorf("capacity %d, %v", capacity, err)
			}
			if n := m.BadAccesses(); n != 0 {
				t.Errorf("%d bad accesses, last %s", n, m.LastBadAccess())
			}
			if err := virtio.Reset(tp); err != nil || tp.Status() != 0 {
				t.Errorf("reset: %v, status %#x", err, tp.Status())
			}
			q.Free()
		})
	}
}

// MMIOSlots returns the devices of the wanted type, last slot first, and
// skips empty slots and other device types.
func TestMMIOSlots(t *testing.T) {
	slots := make([]memRegs, 4)
	for i := range slots {
		slots[i] = make(memRegs, 0x200)
	}
	// Slot 0 a modern block device, 1 a network device, 2 empty, 3 a
	// legacy block device: the version tells the two apart.
	for i, d := range map[int][2]uint32{0: {2, 2}, 1: {2, 1}, 3: {1, 2}} {
		slots[i].Write32(0, 0x74726976)
		slots[i].Write32(4, d[0])
		slots[i].Write32(8, d[1])
	}
	ts := virtio.MMIOSlots(len(slots), func(i int) virtio.Regs { return slots[i] }, 2)
	if len(ts) != 2 || !ts[0].Legacy() || ts[1].Legacy() {
		t.Fatalf("MMIOSlots = %d devices, want slot 3's (legacy) then slot 0's (modern)", len(ts))
	}
}

// orderRegs passes every access to r and logs barriers and writes to the
// doorbell register at notify, so a test sees them in order.
type orderRegs struct {
	virtio.Regs
	notify uint32
	log    *[]string
}

func (o orderRegs) Write32(off uint32, v uint32) {
	if off == o.notify {
		*o.log = append(*o.log, "notify")
	}
	o.Regs.Write32(off, v)
}

func (o orderRegs) Barrier(b virtio.Barrier) {
	*o.log = append(*o.log, b.String())
	o.Regs.Barrier(b)
}

// TestMMIOBarrierBeforeDoorbell drives a queue through the real
// virtio-mmio transport and checks, at the register interface, that the
// queue's barriers reach the board's Regs and that a full barrier comes
// between the last ring publish and the QueueNotify write (§2.7.13.4).
func TestMMIOBarrierBeforeDoorbell(t *testing.T) {
	for _, tr := range []virtiotest.Transport{virtiotest.MMIOModern, virtiotest.MMIOLegacy} {
		m, err := virtiotest.New(virtiotest.Config{Transport: tr, QueueSize: 8, Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		var log []string
		tp, err := virtio.NewMMIO(orderRegs{Regs: m.MMIO(), notify: 0x050, log: &log})
		if err != nil {
			t.Fatal(err)
		}
		f, err := virtio.Init(tp, virtio.FeatureSet(virtio.Version1))
		if err != nil {
			t.Fatal(err)
		}
		q, err := virtio.NewQueue(tp, m.DMA(), 0, 8, f)
		if err != nil {
			t.Fatal(err)
		}
		if err := virtio.Ready(tp); err != nil {
			t.Fatal(err)
		}
		hdr, addr, err := m.DMA().Alloc(16+512+1, 16)
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint32(hdr, 0) // VIRTIO_BLK_T_IN, sector 0
		bufs := []virtio.Buffer{{Addr: addr, Len: 16}, {Addr: addr + 16, Len: 512, Writable: true}, {Addr: addr + 528, Len: 1, Writable: true}}
		log = nil
		if err := q.Add(bufs, 7); err != nil {
			t.Fatal(err)
		}
		if !q.Notify() {
			t.Fatalf("%v: no notification", tr)
		}
		if want := []string{"wmb", "mb", "notify"}; !slices.Equal(log, want) {
			t.Errorf("%v: Add, Notify reached the registers as %q, want %q", tr, log, want)
		}
		if tok, _, ok, err := q.Next(); !ok || err != nil || tok != 7 {
			t.Errorf("%v: Next = %d %v %v", tr, tok, ok, err)
		}
		if want := []string{"wmb", "mb", "notify", "rmb"}; !slices.Equal(log, want) {
			t.Errorf("%v: the completion read issued %q, want %q", tr, log, want)
		}
		q.Free()
	}
}

// SetMSIXVectors maps both events to table entries the device has, and
// reports an entry it has not (it reads back NO_VECTOR) and a legacy
// device.
func TestPCISetMSIXVectors(t *testing.T) {
	for _, tr := range []virtiotest.Transport{virtiotest.PCIModern, virtiotest.PCILegacy} {
		m, err := virtiotest.New(virtiotest.Config{Transport: tr, QueueSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		tp, err := virtio.NewPCI(m.PCI())
		if err != nil {
			t.Fatal(err)
		}
		p := tp.(*virtio.PCI)
		err = p.SetMSIXVectors(0, 0, 1)
		if tr == virtiotest.PCILegacy {
			if err == nil {
				t.Error("legacy device: vectors set")
			}
			m.Close()
			continue
		}
		if err != nil {
			t.Errorf("vectors 0 and 1: %v", err)
		}
		if err := p.SetMSIXVectors(virtio.NoMSIXVector, 0, 0x7ff); err == nil {
			t.Error("queue vector 0x7ff (past the table) accepted")
		}
		if err := p.SetMSIXVectors(virtio.NoMSIXVector, 0, virtio.NoMSIXVector); err != nil {
			t.Errorf("unmapping both: %v", err)
		}
		m.Close()
	}
}
