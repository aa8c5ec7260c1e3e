package virtioblk

import (
	"testing"

	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// benchDisk is a model disk for benchmarks. Sync serves each request
// inside the notify write, so ns/op is the driver plus the model's copy,
// without goroutine hand-offs.
func benchDisk(b *testing.B, sync bool) *Device {
	d, _ := open(b, virtiotest.Config{Transport: virtiotest.MMIOModern, Sync: sync, DMASize: 16 << 20})
	return d
}

func benchIO(b *testing.B, size int, write bool) {
	for _, c := range []struct {
		name      string
		sync, dma bool
	}{
		{"zerocopy-sync", true, true},
		{"bounce-sync", true, false},
		{"zerocopy-async", false, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := benchDisk(b, c.sync)
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
// goroutines.
func BenchmarkReadParallel4K(b *testing.B) {
	d := benchDisk(b, false)
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
