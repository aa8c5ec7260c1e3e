package tamago

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/tamaswap/tamaswap/virtio"
)

// slab is a region as TamaGo's dma.Region behaves: first fit over real
// memory, addresses that are the memory's own, a panic when full, and
// Release of a reserved block's address only.
type slab struct {
	mem  []byte
	used map[uint]int // address -> size
}

func newSlab(n int) *slab { return &slab{mem: make([]byte, n), used: map[uint]int{}} }

func (s *slab) Start() uint { return uint(uintptr(unsafe.Pointer(&s.mem[0]))) }
func (s *slab) End() uint   { return s.Start() + uint(len(s.mem)) }

func (s *slab) Reserve(size, align int) (uint, []byte) {
	for off := 0; off+size <= len(s.mem); off++ {
		a := s.Start() + uint(off)
		if a%uint(align) != 0 || s.overlaps(a, size) {
			continue
		}
		s.used[a] = size
		return a, s.mem[off : off+size : off+size]
	}
	panic("out of memory")
}

func (s *slab) overlaps(a uint, n int) bool {
	for u, m := range s.used {
		if a < u+uint(m) && u < a+uint(n) {
			return true
		}
	}
	return false
}

func (s *slab) Release(a uint) { delete(s.used, a) }

func TestDMA(t *testing.T) {
	s := newSlab(64 << 10)
	d := &DMA{r: s}
	var _ virtio.DMA = d

	buf, addr, err := d.Alloc(4096, 4096)
	if err != nil || len(buf) != 4096 || addr%4096 != 0 {
		t.Fatalf("Alloc: %d bytes at %#x, %v", len(buf), addr, err)
	}
	for _, b := range buf {
		if b != 0 {
			t.Fatal("Alloc returned memory that is not zeroed")
		}
	}
	if a, ok := d.Addr(buf[100:200]); !ok || a != addr+100 {
		t.Errorf("Addr of a slice of an allocation: %#x %v, want %#x", a, ok, addr+100)
	}
	if _, ok := d.Addr(make([]byte, 16)); ok {
		t.Error("Addr of heap memory outside the region succeeded")
	}
	if _, ok := d.Addr(s.mem[len(s.mem)-8 : len(s.mem) : len(s.mem)][:8]); !ok {
		t.Error("Addr of the region's last bytes failed")
	}

	// Full: an error, not a panic, and the region stays usable.
	if _, _, err := d.Alloc(1<<20, 8); !errors.Is(err, virtio.ErrNoDMAMemory) {
		t.Errorf("Alloc larger than the region: %v, want ErrNoDMAMemory", err)
	}
	d.Free(buf)
	if len(s.used) != 0 {
		t.Errorf("Free left %d blocks reserved", len(s.used))
	}
	if _, _, err := d.Alloc(60<<10, 4096); err != nil {
		t.Errorf("Alloc after a failed one and a Free: %v", err)
	}
	for _, bad := range [][2]int{{0, 8}, {-1, 8}, {16, 0}, {16, 3}} {
		if _, _, err := d.Alloc(bad[0], bad[1]); err == nil {
			t.Errorf("Alloc(%d, %d) succeeded", bad[0], bad[1])
		}
	}
}

func TestDMAWithoutRegion(t *testing.T) {
	for _, d := range []*DMA{nil, {}} {
		if _, _, err := d.Alloc(4096, 8); !errors.Is(err, ErrNoRegion) {
			t.Errorf("Alloc without a region: %v, want ErrNoRegion", err)
		}
		if _, ok := d.Addr(make([]byte, 8)); ok {
			t.Error("Addr without a region succeeded")
		}
		d.Free(make([]byte, 8))
	}
}
