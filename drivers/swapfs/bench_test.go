package swapfs

import (
	"testing"
)

// The benchmarks run on a block.Mem behind countDev, and report device
// requests per MiB moved besides throughput and allocations.

const benchChunk = 64 << 10

func benchFS(b *testing.B, opts ...Option) (*FS, *countDev) {
	dev := &countDev{Mem: newMem(512, 256<<11)} // 256 MiB
	return mustNew(b, dev, opts...), dev
}

func reportReqs(b *testing.B, reqs int64) {
	b.ReportMetric(float64(reqs)/(float64(b.N)*benchChunk/(1<<20)), "reqs/MiB")
}

func BenchmarkAppend64K(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchAppend(b) })
	b.Run("encrypted", func(b *testing.B) { benchAppend(b, WithEncryption()) })
}

func BenchmarkReadAt64K(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchReadAt(b) })
	b.Run("encrypted", func(b *testing.B) { benchReadAt(b, WithEncryption()) })
}

func benchAppend(b *testing.B, opts ...Option) {
	fs, dev := benchFS(b, opts...)
	h := fs.Empty()
	p := make([]byte, benchChunk)
	for i := range p {
		p[i] = byte(i * 7)
	}
	// The handle's first allocations: extents, stream buffers.
	for h.Size() < 3<<20 {
		if err := h.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	limit := int64(200 << 20)
	dev.reset()
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if h.Size() >= limit {
			// Start over, off the clock.
			b.StopTimer()
			h.Free()
			b.StartTimer()
		}
		if err := h.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportReqs(b, dev.reads.Load()+dev.writes.Load())
	if dev.reads.Load() != 0 {
		b.Errorf("appends read the device %d times", dev.reads.Load())
	}
}

func benchReadAt(b *testing.B, opts ...Option) {
	fs, dev := benchFS(b, opts...)
	h := fs.Empty()
	p := make([]byte, benchChunk)
	const size = 64 << 20
	for h.Size() < size {
		if err := h.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := h.ReadAt(p, 0); err != nil { // read-ahead's stream buffers
		b.Fatal(err)
	}
	dev.reset()
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	b.ResetTimer()
	off := int64(benchChunk)
	for range b.N {
		if _, err := h.ReadAt(p, off); err != nil {
			b.Fatal(err)
		}
		off += benchChunk
		if off >= size {
			off = 0
		}
	}
	b.StopTimer()
	reportReqs(b, dev.reads.Load()+dev.writes.Load())
}
