package pcie

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/tamaswap/tamaswap/virtio"
)

// fakeFn is one function's configuration space with BARs that behave as
// §6.2.5.1 says: the address bits below the size read back as zero.
type fakeFn struct {
	cfg  [4096]byte
	bars [6]fakeBAR
}

type fakeBAR struct {
	size  uint64 // 0: not implemented
	io    bool
	is64  bool // this is the low half of a 64-bit BAR
	upper bool // this is the upper half of a 64-bit BAR
}

func (f *fakeFn) Read8(off uint32) uint8   { return f.cfg[off] }
func (f *fakeFn) Read16(off uint32) uint16 { return binary.LittleEndian.Uint16(f.cfg[off:]) }
func (f *fakeFn) Read32(off uint32) uint32 { return binary.LittleEndian.Uint32(f.cfg[off:]) }
func (f *fakeFn) Read64(off uint32) uint64 { return binary.LittleEndian.Uint64(f.cfg[off:]) }
func (f *fakeFn) Write8(off uint32, v uint8) {
	f.cfg[off] = v
}
func (f *fakeFn) Write16(off uint32, v uint16) { binary.LittleEndian.PutUint16(f.cfg[off:], v) }
func (f *fakeFn) Barrier(virtio.Barrier)       {}
func (f *fakeFn) Write64(off uint32, v uint64) {
	f.Write32(off, uint32(v))
	f.Write32(off+4, uint32(v>>32))
}

func (f *fakeFn) Write32(off uint32, v uint32) {
	if off >= cfgBAR0 && off < cfgBAR0+24 {
		i := (off - cfgBAR0) / 4
		b := f.bars[i]
		switch {
		case b.upper:
			size := f.bars[i-1].size
			v &= uint32(^(size - 1) >> 32)
		case b.size == 0:
			v = 0
		case b.io:
			v = v&^uint32(b.size-1) | barIO
		default:
			v &^= uint32(b.size - 1)
			v &^= 0xf
			if b.is64 {
				v |= barType64
			}
		}
	}
	binary.LittleEndian.PutUint32(f.cfg[off:], v)
}

func newFakeFn(vendor, device uint16, header uint8, bars ...fakeBAR) *fakeFn {
	f := &fakeFn{}
	f.Write16(cfgVendorID, vendor)
	f.Write16(cfgDeviceID, device)
	f.cfg[cfgHeaderType] = header
	for i, b := range bars {
		f.bars[i] = b
		if b.is64 {
			f.bars[i+1] = fakeBAR{upper: true}
		}
	}
	for i := range f.bars {
		f.Write32(uint32(cfgBAR0+4*i), 0)
	}
	f.Write16(cfgCommand, cmdMemory|cmdIO|1<<2)
	return f
}

// absent answers like an empty slot: all ones.
type absent struct{}

func (absent) Read8(uint32) uint8     { return 0xff }
func (absent) Read16(uint32) uint16   { return 0xffff }
func (absent) Read32(uint32) uint32   { return 0xffffffff }
func (absent) Read64(uint32) uint64   { return ^uint64(0) }
func (absent) Write8(uint32, uint8)   {}
func (absent) Write16(uint32, uint16) {}
func (absent) Write32(uint32, uint32) {}
func (absent) Write64(uint32, uint64) {}
func (absent) Barrier(virtio.Barrier) {}

const ecam = 0xe0000000

func fakeHost(fns map[[2]uint8]*fakeFn, io bool) *Host {
	h := &Host{
		ECAMBase: ecam, Buses: 1,
		MemBase: 0xc0000000, MemSize: 0x20000000,
		MapMem: func(addr uint64, size uint32) virtio.Regs {
			if addr >= ecam && addr < ecam+1<<20 {
				dev, fn := uint8(addr>>15&31), uint8(addr>>12&7)
				if f, ok := fns[[2]uint8{dev, fn}]; ok {
					return f
				}
				return absent{}
			}
			return absent{} // a BAR: not used by these tests
		},
	}
	if io {
		h.IOBase, h.IOSize = 0x1000, 0x1000
		h.MapIO = func(port uint16, size uint32) virtio.Regs { return absent{} }
	}
	return h
}

func TestScanAssignsBARs(t *testing.T) {
	virtioFn := newFakeFn(0x1af4, 0x1001, 0,
		fakeBAR{size: 128, io: true}, // BAR0: legacy I/O
		fakeBAR{size: 4096},          // BAR1: MSI-X table
		fakeBAR{}, fakeBAR{},
		fakeBAR{size: 16384, is64: true}, // BAR4/5: modern capabilities
	)
	fns := map[[2]uint8]*fakeFn{
		{0, 0}: newFakeFn(0x1b36, 0x0008, 0), // host bridge, no BARs
		{2, 0}: virtioFn,
		{3, 0}: newFakeFn(0x8086, 0x1234, headerMultiFunction, fakeBAR{size: 1 << 20}),
		{3, 2}: newFakeFn(0x8086, 0x1235, 0, fakeBAR{size: 64}),
		{4, 1}: newFakeFn(0x8086, 0x9999, 0), // function 1 without function 0: not scanned
	}
	for _, withIO := range []bool{false, true} {
		h := fakeHost(fns, withIO)
		got, err := h.Scan()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range got {
			names = append(names, f.String())
		}
		want := []string{"00:00.0 1b36:0008", "00:02.0 1af4:1001", "00:03.0 8086:1234", "00:03.2 8086:1235"}
		if len(names) != len(want) {
			t.Fatalf("io=%v: functions %q, want %q", withIO, names, want)
		}
		for i := range want {
			if names[i] != want[i] {
				t.Fatalf("io=%v: functions %q, want %q", withIO, names, want)
			}
		}

		type span struct{ a, n uint64 }
		var used []span
		for _, f := range got {
			for n := 0; n < 6; n++ {
				addr, size, isIO := f.BARAddr(n)
				if size == 0 {
					continue
				}
				if addr%size != 0 {
					t.Errorf("%v BAR%d at %#x not aligned to its size %#x", f, n, addr, size)
				}
				if !isIO {
					if addr < h.MemBase || addr+size > h.MemBase+h.MemSize {
						t.Errorf("%v BAR%d at %#x+%#x outside the window", f, n, addr, size)
					}
					for _, u := range used {
						if addr < u.a+u.n && u.a < addr+size {
							t.Errorf("%v BAR%d at %#x+%#x overlaps %#x+%#x", f, n, addr, size, u.a, u.n)
						}
					}
					used = append(used, span{addr, size})
				}
				// The BAR register holds the address.
				lo := uint64(f.Config().Read32(uint32(cfgBAR0 + 4*n)))
				if isIO {
					lo &^= 3
				} else {
					lo &^= 0xf
				}
				if n == 4 {
					lo |= uint64(f.Config().Read32(cfgBAR0+20)) << 32
				}
				if lo != addr {
					t.Errorf("%v BAR%d register holds %#x, assigned %#x", f, n, lo, addr)
				}
			}
		}

		v := got[1]
		if _, size, _ := v.BARAddr(4); size != 16384 {
			t.Errorf("64-bit BAR4 size %d, want 16384", size)
		}
		if _, err := v.BAR(5); !errors.Is(err, ErrNoBAR) {
			t.Errorf("BAR5 (upper half of BAR4): %v, want ErrNoBAR", err)
		}
		if _, err := v.BAR(2); !errors.Is(err, ErrNoBAR) {
			t.Errorf("BAR2: %v, want ErrNoBAR", err)
		}
		if _, err := v.BAR(6); !errors.Is(err, ErrNoBAR) {
			t.Errorf("BAR6: %v, want ErrNoBAR", err)
		}
		_, err = v.BAR(0)
		if withIO && err != nil {
			t.Errorf("I/O BAR0 with an I/O window: %v", err)
		}
		if !withIO && !errors.Is(err, ErrNoIOWindow) {
			t.Errorf("I/O BAR0 without an I/O window: %v, want ErrNoIOWindow", err)
		}
		if cmd := virtioFn.Read16(cfgCommand); cmd != cmdMemory|cmdIO|1<<2 {
			t.Errorf("command register %#x not restored", cmd)
		}
	}
}

func TestScanWindowFull(t *testing.T) {
	fns := map[[2]uint8]*fakeFn{
		{0, 0}: newFakeFn(0x1af4, 0x1042, 0, fakeBAR{size: 1 << 20}, fakeBAR{size: 1 << 30}),
	}
	h := fakeHost(fns, false)
	h.MemSize = 2 << 20
	got, err := h.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got[0].BAR(0); err != nil {
		t.Errorf("BAR0 fits: %v", err)
	}
	if _, err := got[0].BAR(1); !errors.Is(err, ErrNoSpace) {
		t.Errorf("BAR1 of 1 GiB in a 2 MiB window: %v, want ErrNoSpace", err)
	}
}

// TestScanAssignsOnlyChosen: with Assign, the other functions' BARs are
// neither sized nor moved (another driver or the VMM owns them).
func TestScanAssignsOnlyChosen(t *testing.T) {
	blk := newFakeFn(0x1af4, 0x1042, 0, fakeBAR{size: 1 << 20, is64: true})
	net := newFakeFn(0x1af4, 0x1041, 0, fakeBAR{size: 1 << 20, is64: true})
	net.Write32(cfgBAR0, 0x40000000)
	net.Write32(cfgBAR0+4, 1)
	fns := map[[2]uint8]*fakeFn{{0, 0}: newFakeFn(0x8086, 0x0d57, 0), {1, 0}: net, {2, 0}: blk}
	h := fakeHost(fns, false)
	h.Assign = func(vendor, device uint16) bool { return vendor == 0x1af4 && device == 0x1042 }
	got, err := h.Scan()
	if err != nil || len(got) != 3 {
		t.Fatalf("Scan: %d functions, %v", len(got), err)
	}
	if _, err := got[1].BAR(0); !errors.Is(err, ErrNotAssigned) {
		t.Errorf("net BAR0: %v, want ErrNotAssigned", err)
	}
	if lo, hi := net.Read32(cfgBAR0), net.Read32(cfgBAR0+4); lo&^0xf != 0x40000000 || hi != 1 {
		t.Errorf("net BAR0 moved to %#x_%08x", hi, lo)
	}
	if addr, size, _ := got[2].BARAddr(0); addr != h.MemBase || size != 1<<20 {
		t.Errorf("blk BAR0 at %#x+%#x, want %#x+1 MiB", addr, size, h.MemBase)
	}
}

// TestScanHighWindow: a window above 4 GiB takes 64-bit BARs only.
func TestScanHighWindow(t *testing.T) {
	fns := map[[2]uint8]*fakeFn{
		{0, 0}: newFakeFn(0x1af4, 0x1042, 0, fakeBAR{size: 4096}, fakeBAR{}, fakeBAR{size: 1 << 20, is64: true}),
	}
	h := fakeHost(fns, false)
	h.MemBase, h.MemSize = 0x150000000, 0x30000000
	got, err := h.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got[0].BAR(0); !errors.Is(err, ErrNoSpace) {
		t.Errorf("32-bit BAR0 above 4 GiB: %v, want ErrNoSpace", err)
	}
	addr, _, _ := got[0].BARAddr(2)
	if hi := fns[[2]uint8{0, 0}].Read32(cfgBAR0 + 12); addr != 0x150000000 || hi != 1 {
		t.Errorf("64-bit BAR2 at %#x (upper register %#x), want 0x150000000", addr, hi)
	}
}

func TestScanBadHost(t *testing.T) {
	if _, err := (&Host{}).Scan(); err == nil {
		t.Error("Scan of a Host without ECAM mapping succeeded")
	}
}
