package virtiotest

import (
	"testing"

	"github.com/tamaswap/tamaswap/virtio"
)

// TestMultiQueue: with NumQueues 3 the device offers VIRTIO_BLK_F_MQ,
// says num_queues 3 (and num_queues 3 in virtio-pci's common
// configuration), has queues 0–2 and no queue 3, and serves requests on
// the last queue alone, notified at its own address.
func TestMultiQueue(t *testing.T) {
	for _, tr := range allTransports {
		t.Run(tr.String(), func(t *testing.T) {
			m, err := New(Config{Transport: tr, NumQueues: 3, Sync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if o, _ := m.Features(); o&bit(featBlkMQ) == 0 {
				t.Errorf("features %#x without VIRTIO_BLK_F_MQ", o)
			}
			d := initDrvQueue(t, m, allFeatures|bit(featBlkMQ), legacyPCIAlign, 2)
			if d.feats&bit(featBlkMQ) == 0 {
				t.Error("MQ not negotiated")
			}
			if n := d.h.config32(cfgWriteback) >> 16; n != 3 {
				t.Errorf("num_queues %d, want 3", n)
			}
			if n := onQueue(d.h, 3).queueMax(); n != 0 {
				t.Errorf("queue 3 has QueueNumMax %d, want 0 (no such queue)", n)
			}
			if n := onQueue(d.h, 1).queueMax(); n == 0 {
				t.Error("queue 1 has QueueNumMax 0")
			}
			if h, ok := d.h.(*pciModernHost); ok {
				if n := h.bar.Read16(h.common + commonNumQ); n != 3 {
					t.Errorf("common num_queues %d, want 3", n)
				}
			}
			w := d.dmaBuf(512, 9)
			checkStatus(t, "write on queue 2", d.req(blkTOut, 4, [][]byte{w}, false, false), blkSOK)
			if m.Disk().Bytes()[4*512] != 9 {
				t.Error("the write on queue 2 did not reach the disk")
			}
			if m.BadAccesses() != 0 {
				t.Errorf("bad access: %s", m.LastBadAccess())
			}
		})
	}
}

// TestMultiQueueMSIX: a virtio-pci device with N queues has N+1 MSI-X
// table entries, as QEMU's virtio-blk-pci, and keeps one vector per
// queue: the Linux layout (configuration on entry 0, queue i on entry
// 1+i) fits, and entry N+1 reads back as NO_VECTOR, which
// virtio.PCI.SetMSIXVectors reports.
func TestMultiQueueMSIX(t *testing.T) {
	const nq = 3
	m, err := New(Config{Transport: PCIModern, NumQueues: nq, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := m.PCI().Config()
	if n := cfg.Read16(pciCapMSIXOff+2)&0x7ff + 1; n != nq+1 {
		t.Errorf("MSI-X table size %d, want %d", n, nq+1)
	}
	tp, err := virtio.NewPCI(m.PCI())
	if err != nil {
		t.Fatal(err)
	}
	p := tp.(*virtio.PCI)
	if _, err := virtio.Init(p, virtio.Features(bit(featVersion1)|bit(featBlkMQ))); err != nil {
		t.Fatal(err)
	}
	for q := range uint16(nq) {
		if err := p.SetMSIXVectors(0, q, 1+q); err != nil {
			t.Errorf("queue %d: %v", q, err)
		}
	}
	for q := range nq {
		if v := m.qs[q].msixVector; v != uint16(1+q) {
			t.Errorf("queue %d has vector %#x, want %d", q, v, 1+q)
		}
	}
	if err := p.SetMSIXVectors(0, 0, nq+1); err == nil {
		t.Error("vector past the table accepted")
	}
	if err := p.SetMSIXVectors(0, nq, 1); err == nil {
		t.Error("a vector for queue num_queues accepted")
	}
}
