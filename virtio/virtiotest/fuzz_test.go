package virtiotest

import (
	"testing"
)

// FuzzRings lets arbitrary bytes stand for the descriptor table, the
// available ring and the buffers a driver wrote, then notifies: the device
// must answer or enter DEVICE_NEEDS_RESET, never panic or hang. Bit 3 of
// mode makes the device a two-queue one (VIRTIO_BLK_F_MQ) driven on
// queue 1.
func FuzzRings(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(3), make([]byte, 200))
	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		tr := allTransports[int(mode)%len(allTransports)]
		feats := allFeatures
		if mode&4 != 0 {
			feats &^= bit(featEventIdx)
		}
		nq := 1 + int(mode>>3&1)
		m, err := New(Config{Transport: tr, QueueSize: 8, DMASize: 64 << 10, Sync: true,
			SizeMax: 4096, Lie: Lie(mode>>4) % (LieRandom + 1), NumQueues: nq})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		d := initDrvQueue(t, m, feats, legacyPCIAlign, uint16(nq-1))
		// Buffers the descriptors can point at: the first 16 KiB of DMA
		// memory holds the rings, the rest is fair game.
		mem := d.m.mem
		copy(mem[16<<10:], data)
		for i := 0; i+16 <= len(data) && i < 16*int(d.num); i += 16 {
			e := d.desc[i:]
			copy(e, data[i:i+16])
			// Keep most addresses inside the memory so chains get served.
			if data[i]&1 == 0 {
				put64(e, DMABase+16<<10+uint64(get32(data[i:]))%(48<<10))
				put32(e[8:], get32(e[8:])%8192)
			}
		}
		n := uint16(0)
		if len(data) > 0 {
			n = uint16(data[0]) % 10
		}
		for i := uint16(0); i < n; i++ {
			h := uint16(i)
			if int(i)+1 < len(data) {
				h = uint16(data[i+1]) % 9
			}
			d.publish(h)
		}
		d.h.notify()
		_ = d.h.status()
	})
}
