//go:build linux && (amd64 || arm64)

package hosted

import (
	"errors"
	"os"
	"testing"
	"unsafe"

	"github.com/tamaswap/tamaswap/virtio"
)

var _ virtio.DMA = (*hugeDMA)(nil)

// Pages 0-1 and 3 are physically consecutive runs, page 2 stands alone:
// three runs, and no allocation crosses from one into another.
func TestHugeDMARuns(t *testing.T) {
	const page = 4096
	mem := pageAligned(4 * page)
	d, err := newHugeDMA(mem, page, []uint64{0x40000000, 0x40001000, 0x80000000, 0x10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.runs) != 3 || d.largest != 2*page {
		t.Fatalf("%d runs, largest %d; want 3, %d", len(d.runs), d.largest, 2*page)
	}
	big, addr, err := d.Alloc(2*page, page)
	if err != nil || addr != 0x40000000 || &big[0] != &mem[0] {
		t.Fatalf("Alloc(2 pages) = %#x, %v; want the first run", addr, err)
	}
	if _, _, err := d.Alloc(2*page, 8); !errors.Is(err, virtio.ErrNoDMAMemory) {
		t.Errorf("a second 2-page allocation = %v; want ErrNoDMAMemory (the other runs are 1 page)", err)
	}
	small, addr, err := d.Alloc(100, 64)
	if err != nil || addr != 0x80000000 || &small[0] != &mem[2*page] {
		t.Errorf("Alloc(100) = %#x, %v; want page 2 at 0x80000000", addr, err)
	}
	if a, ok := d.Addr(mem[3*page+8 : 3*page+16]); !ok || a != 0x10008 {
		t.Errorf("Addr in page 3 = %#x, %v; want 0x10008", a, ok)
	}
	if _, ok := d.Addr(mem[page : 3*page]); ok {
		t.Error("Addr accepted a buffer crossing from one run into another")
	}
	d.Free(big)
	if _, addr, err := d.Alloc(2*page, page); err != nil || addr != 0x40000000 {
		t.Errorf("Alloc after Free = %#x, %v", addr, err)
	}
	if _, err := newHugeDMA(mem, page, []uint64{0x40000800, 0, 0, 0}); err == nil {
		t.Error("a page not aligned to its size was accepted")
	}
	if _, err := newHugeDMA(mem, page, []uint64{0}); err == nil {
		t.Error("a page list not covering the memory was accepted")
	}
}

// Addr is on every request's path: it must not allocate.
func TestHugeDMAAddrAllocs(t *testing.T) {
	mem := pageAligned(2 * 4096)
	d, err := newHugeDMA(mem, 4096, []uint64{0x1000, 0x3000})
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { d.Addr(mem[4096:]) }); n != 0 {
		t.Errorf("Addr allocates %v times", n)
	}
}

// pageAligned returns n bytes starting on a 4096-byte boundary, as
// hugepages do (virtio.NewRegion wants host and device addresses to agree
// modulo 4096).
func pageAligned(n int) []byte {
	b := make([]byte, n+4095)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & 4095)
	return b[off : off+n : off+n]
}

// On a host with hugepages reserved, as root, the real thing: every page
// has a physical address.
func TestOpenHugeDMA(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/vm/nr_hugepages"); err != nil || string(b) == "0\n" || os.Geteuid() != 0 {
		t.Skip("skipped: no hugepages reserved on this host, or not root")
	}
	d, err := openHugeDMA(hugePageSize)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t.Log(d)
	buf, addr, err := d.Alloc(4096, 4096)
	if err != nil || addr == 0 || addr%4096 != 0 {
		t.Fatalf("Alloc = %#x, %v", addr, err)
	}
	d.Free(buf)
}
