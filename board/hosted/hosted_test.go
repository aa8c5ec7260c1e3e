//go:build linux && (amd64 || arm64)

package hosted

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tamaswap/tamaswap/virtio"
)

var (
	_ virtio.Regs        = (*Window)(nil)
	_ virtio.Regs        = (*fileRegs)(nil)
	_ virtio.PCIFunction = (*PCIDevice)(nil)
)

func anonMapping(t *testing.T, n int) []byte {
	t.Helper()
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	return m
}

// TestWindow checks each width's loads and stores: little-endian, exactly
// the bytes of the access, nothing outside the window.
func TestWindow(t *testing.T) {
	m := anonMapping(t, 4096)
	w, err := newWindow(m, 0x100, 0x40)
	if err != nil {
		t.Fatal(err)
	}
	w.Write64(0, 0x0807060504030201)
	w.Write32(8, 0x0c0b0a09)
	w.Write16(12, 0x0e0d)
	w.Write8(14, 0x0f)
	for i := 0; i < 15; i++ {
		if m[0x100+i] != byte(i+1) {
			t.Fatalf("byte %d = %#x, want %#x", i, m[0x100+i], i+1)
		}
	}
	if m[0x100+15] != 0 || m[0xff] != 0 {
		t.Error("a store wrote outside its bytes")
	}
	if got := w.Read64(0); got != 0x0807060504030201 {
		t.Errorf("Read64 = %#x", got)
	}
	if got := w.Read32(4); got != 0x08070605 {
		t.Errorf("Read32 = %#x", got)
	}
	if got := w.Read16(14); got != 0x000f {
		t.Errorf("Read16 = %#x", got)
	}
	// A misaligned access would be split in two on the bus: refused.
	if got := w.Read16(13); got != 0xffff {
		t.Errorf("Read16 (misaligned) = %#x, want all ones", got)
	}
	if got := w.Read8(14); got != 0x0f {
		t.Errorf("Read8 = %#x", got)
	}
	// Outside the window: all ones, and stores go nowhere.
	if w.Read8(0x40) != 0xff || w.Read16(0x3f) != 0xffff || w.Read32(0x3d) != 0xffffffff || w.Read64(0x39) != ^uint64(0) || w.Read32(0xffffffff) != 0xffffffff {
		t.Error("an access past the window's end did not read all ones")
	}
	w.Write64(0x3c, ^uint64(0))
	w.Write32(0xfffffffe, ^uint32(0))
	for i := 0x13c; i < 0x148; i++ {
		if m[i] != 0 {
			t.Fatalf("a store past the window wrote byte %#x", i)
		}
	}
	if _, err := newWindow(m, 4000, 0x100); err == nil {
		t.Error("newWindow accepted a window past the mapping")
	}
	if n := testing.AllocsPerRun(100, func() { w.Write32(0, w.Read32(0)+1) }); n != 0 {
		t.Errorf("register access allocates %v times", n)
	}
}

func TestFileRegs(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "config"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(256); err != nil {
		t.Fatal(err)
	}
	r := &fileRegs{fd: int(f.Fd()), size: 256, name: f.Name()}
	r.Write16(4, 0x0107)
	r.Write8(6, 0x10)
	r.Write64(0x10, 0x1122334455667788)
	if got := r.Read32(4); got != 0x00100107 {
		t.Errorf("Read32(4) = %#x, want 0x100107", got)
	}
	if got := r.Read64(0x10); got != 0x1122334455667788 {
		t.Errorf("Read64 = %#x", got)
	}
	if got := r.Read8(0x17); got != 0x11 {
		t.Errorf("Read8 = %#x", got)
	}
	if r.Read32(254) != 0xffffffff || r.Read16(256) != 0xffff {
		t.Error("an access past the end did not read all ones")
	}
	if n := testing.AllocsPerRun(100, func() { r.Write16(4, r.Read16(4)) }); n != 0 {
		t.Errorf("file register access allocates %v times", n)
	}
}

func TestParseDMARange(t *testing.T) {
	for _, c := range []struct {
		cmdline string
		want    DMARange
		err     bool
	}{
		{"console=ttyS0 memmap=64M$0x10000000 quiet", DMARange{0x10000000, 64 << 20}, false},
		{"memmap=256M$768M", DMARange{768 << 20, 256 << 20}, false},
		{"memmap=1G!4G memmap=0x1000$4096", DMARange{4096, 0x1000}, false},
		{"memmap=16M@0x1000000,8M$0x2000000", DMARange{0x2000000, 8 << 20}, false},
		{"console=ttyS0", DMARange{}, true},
		{"memmap=0$0x1000", DMARange{}, true},
		{"memmap=1x$0x1000", DMARange{}, true},
		{"memmap=16E$0x1000", DMARange{}, true},
		{"memmap=0xffffffffffffffff$2", DMARange{}, true},
	} {
		got, err := parseDMARange(c.cmdline)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("parseDMARange(%q) = %+v, %v; want %+v, error %v", c.cmdline, got, err, c.want, c.err)
		}
	}
	if _, err := parseDMARange(""); !errors.Is(err, ErrNoDMARange) {
		t.Errorf("no memmap=: %v, want ErrNoDMARange", err)
	}
}

func TestConsoleEOT(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	c := &Console{f: pr}
	pw.Write([]byte("exit 3\n\x04more"))
	pw.Close()
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if string(buf[:n]) != "exit 3\n" || err != nil {
		t.Errorf("Read = %q, %v; want the bytes before EOT", buf[:n], err)
	}
	if n, err := c.Read(buf); n != 0 || err == nil {
		t.Errorf("Read after EOT = %d, %v; want io.EOF", n, err)
	}
}

func BenchmarkWindowRead32Write32(b *testing.B) {
	m, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Munmap(m)
	w, _ := newWindow(m, 0, 0x200)
	b.ReportAllocs()
	for b.Loop() {
		w.Write32(0x50, w.Read32(0x50)+1)
	}
}

// A legacy virtio-pci notify: one 16-bit pwrite on an I/O BAR file.
func BenchmarkFileRegsWrite16(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "resource0"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	f.Truncate(128)
	r := &fileRegs{fd: int(f.Fd()), size: 128, name: f.Name(), io: true}
	b.ReportAllocs()
	for b.Loop() {
		r.Write16(0x10, 0)
	}
}
