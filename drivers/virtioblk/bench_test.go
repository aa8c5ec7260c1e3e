package virtioblk

import (
	"fmt"
	"testing"

	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// benchDisk is a model disk for benchmarks. Sync serves each request
// inside the notify write, so ns/op is the driver plus the model's copy,
// without goroutine hand-offs. queues above 1 offers VIRTIO_BLK_F_MQ.
func benchDisk(b *testing.B, sync bool, queues int) *Device {
	d, _ := open(b, virtiotest.Config{Transport: virtiotest.MMIOModern, Sync: sync, DMASize: 16 << 20, NumQueues: queues})
	return d
}

func benchIO(b *testing.B, size int, write bool) {
	for _, c := range []struct {
		name      string
		sync, dma bool
		queues    int
	}{
		{"zerocopy-sync", true, true, 1},
		{"bounce-sync", true, false, 1},
		{"zerocopy-async", false, true, 1},
		{"zerocopy-sync-mq2", true, true, 2},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := benchDisk(b, c.sync, c.queues)
			buf := make([]byte, size)
			if c.dma {
				var err error
				if buf, err = d.AllocBuffer(size); err != nil {
					b.Fatal(err)
				}
			}
			sectors := d.Info().Sectors - int64(size/512)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var sector int64
			for b.Loop() {
				var err error
				if write {
					err = d.Write(sector, buf)
				} else {
					err = d.Read(sector, buf)
				}
				if err != nil {
					b.Fatal(err)
				}
				sector = (sector + int64(size/512)) % sectors
			}
		})
	}
}

func BenchmarkRead4K(b *testing.B)  { benchIO(b, 4096, false) }
func BenchmarkWrite1M(b *testing.B) { benchIO(b, 1<<20, true) }

// BenchmarkReadParallel4K keeps many requests in flight from many
// goroutines, on one queue and on several.
func BenchmarkReadParallel4K(b *testing.B) {
	for _, queues := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("queues=%d", queues), func(b *testing.B) { readParallel(b, queues) })
	}
}

func readParallel(b *testing.B, queues int) {
	d := benchDisk(b, false, queues)
	b.SetBytes(4096)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		buf, err := d.AllocBuffer(4096)
		if err != nil {
			b.Error(err)
			return
		}
		var sector int64
		for pb.Next() {
			if err := d.Read(sector, buf); err != nil {
				b.Error(err)
				return
			}
			sector = (sector + 8) % 32000
		}
	})
}
