package virtio

import (
	"errors"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestRegionAlignment: every buffer is aligned as asked in device
// addresses, and in driver addresses up to a page (NewRegion's
// congruence), and lies where Addr says.
func TestRegionAlignment(t *testing.T) {
	const base = 0x4000_0000
	r, err := NewRegion(pageAligned(1<<20), base)
	if err != nil {
		t.Fatal(err)
	}
	var keep [][]byte
	for _, align := range []int{1, 2, 8, 64, 512, 4096, 1 << 16} {
		for _, size := range []int{1, 63, 64, 65, 4095, 4097} {
			buf, addr, err := r.Alloc(size, align)
			if err != nil {
				t.Fatalf("Alloc(%d, %d): %v", size, align, err)
			}
			host := uint64(uintptr(unsafe.Pointer(&buf[0])))
			if addr%uint64(align) != 0 || host%uint64(min(align, RegionPageSize)) != 0 || len(buf) != size || cap(buf) != size {
				t.Errorf("Alloc(%d, %d) = %d bytes at device %#x, host %#x", size, align, len(buf), addr, host)
			}
			if a, ok := r.Addr(buf); !ok || a != addr {
				t.Errorf("Addr = %#x, %t; want %#x", a, ok, addr)
			}
			keep = append(keep, buf)
		}
	}
	for _, b := range keep {
		r.Free(b)
	}
	if st := r.Stats(); st.Free != st.Size || st.Spans != 1 {
		t.Errorf("after freeing everything: %+v", st)
	}
}

// TestRegionExhaustion: an allocation the region cannot meet is an
// error matching ErrNoDMAMemory, and the region stays usable.
func TestRegionExhaustion(t *testing.T) {
	r, err := NewRegion(pageAligned(64<<10), 0x1000_0000)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := r.Alloc(48<<10, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Alloc(32<<10, 4096); !errors.Is(err, ErrNoDMAMemory) {
		t.Fatalf("Alloc past the end: %v, want ErrNoDMAMemory", err)
	}
	if b, _, err := r.Alloc(16<<10, 4096); err != nil {
		t.Fatalf("Alloc of what is left: %v", err)
	} else {
		r.Free(b)
	}
	r.Free(a)
	if b, _, err := r.Alloc(64<<10, 4096); err != nil {
		t.Fatalf("Alloc of the whole region after Free: %v", err)
	} else if b[0] != 0 {
		t.Fatal("reused memory not zeroed")
	}
}

// TestRegionFreeAndReuse: freed memory is handed out again, zeroed, and
// neighbouring free spans merge whatever the order of the frees.
func TestRegionFreeAndReuse(t *testing.T) {
	r, err := NewRegion(pageAligned(16*4096), 0)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 100; round++ {
		var bufs [][]byte
		for i := 0; i < 16; i++ {
			b, _, err := r.Alloc(4096, 4096)
			if err != nil {
				t.Fatalf("round %d: Alloc %d: %v", round, i, err)
			}
			if b[0] != 0 || b[4095] != 0 {
				t.Fatalf("round %d: reused memory not zeroed", round)
			}
			b[0], b[4095] = 0xff, 0xff
			bufs = append(bufs, b)
		}
		if _, _, err := r.Alloc(1, 1); !errors.Is(err, ErrNoDMAMemory) {
			t.Fatalf("full region: %v", err)
		}
		rng.Shuffle(len(bufs), func(i, j int) { bufs[i], bufs[j] = bufs[j], bufs[i] })
		for _, b := range bufs {
			r.Free(b)
			r.Free(b) // a second Free is ignored
		}
		if st := r.Stats(); st.Free != st.Size || st.Spans != 1 || st.Largest != st.Size {
			t.Fatalf("round %d: after freeing everything: %+v", round, st)
		}
	}
	r.Free(make([]byte, 8)) // not the region's: ignored
}

// driverSizes are the allocations the drivers and the shell make (see
// virtioblk's request slots and bounce budget, swapfs's stream and I/O
// buffers, the workloads' buffers), with their alignment.
var driverSizes = []struct{ size, align int }{
	{64 * 128, 64}, {16 << 10, 4096}, {4096, 4096}, {64 << 10, 4096},
	{256 << 10, 4096}, {1 << 20, 4096}, {1<<20 + 4096, 4096}, {2 << 20, 4096},
}

// TestRegionNoGrowth: a million alloc/free cycles of mixed sizes leave
// the region as it was, and once warm neither Alloc nor Free allocates.
func TestRegionNoGrowth(t *testing.T) {
	r, err := NewRegion(pageAligned(16<<20), 0x5000_0000)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var live [32][]byte
	step := func() {
		i := rng.IntN(len(live))
		if live[i] != nil {
			r.Free(live[i])
			live[i] = nil
			return
		}
		// Mostly small sizes, so that a million cycles stay quick
		// under emulation; the large ones come one time in 64.
		s := driverSizes[rng.IntN(4)]
		if rng.IntN(64) == 0 {
			s = driverSizes[4+rng.IntN(4)]
		}
		if b, _, err := r.Alloc(s.size, s.align); err == nil {
			live[i] = b
		} else if !errors.Is(err, ErrNoDMAMemory) {
			t.Fatal(err)
		}
	}
	for range 10000 {
		step()
	}
	if a := testing.AllocsPerRun(10000, step); a != 0 {
		t.Errorf("%.2f heap allocations per Alloc or Free once warm, want 0", a)
	}
	maxSpans := 0
	for range 1_000_000 {
		step()
		maxSpans = max(maxSpans, len(r.free))
	}
	for i, b := range live {
		r.Free(b)
		live[i] = nil
	}
	if st := r.Stats(); st.Free != st.Size || st.Spans != 1 || cap(r.free) > 2*len(live)+2 {
		t.Errorf("after a million cycles: %+v, free list capacity %d", st, cap(r.free))
	}
	if maxSpans > len(live)+1 {
		t.Errorf("%d free spans with %d buffers live", maxSpans, len(live))
	}
}

// TestRegionFragmentationBounded runs the drivers' own pattern, phase by
// phase as the shell runs commands: memory kept from boot (two disks'
// rings, request headers and bounce budgets), swap managers whose stream
// and I/O buffers live from their first use until they are closed, and
// each command's or workload's own buffers, all given back when it ends.
// Whenever twice a request (plus its alignment) is free, the request is
// met: first fit over spans that merge on Free leaves holes only where a
// swap manager was opened mid-command, and those are reused.
func TestRegionFragmentationBounded(t *testing.T) {
	const size = 24 << 20
	r, err := NewRegion(pageAligned(size), 0x5000_0000)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for _, s := range []struct{ size, align int }{{16 << 10, 4096}, {64 * 128, 64}, {2 << 20, 4096}} {
			if _, _, err := r.Alloc(s.size, s.align); err != nil {
				t.Fatal(err)
			}
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var swaps [2][][]byte // plain and encrypted managers' buffers
	openSwap := func(k int) {
		if swaps[k] != nil {
			return
		}
		swaps[k] = [][]byte{}
		for range 4 + 2*k {
			if b, _, err := r.Alloc(1<<20, 4096); err == nil {
				swaps[k] = append(swaps[k], b)
			}
		}
		for range 2 {
			if b, _, err := r.Alloc(64<<10, 4096); err == nil {
				swaps[k] = append(swaps[k], b)
			}
		}
	}
	failures := 0
	for phase := 0; phase < 20_000; phase++ {
		if rng.IntN(10) == 0 { // a manager is closed (a failed run, a mode switch)
			k := rng.IntN(2)
			for _, b := range swaps[k] {
				r.Free(b)
			}
			swaps[k] = nil
		}
		var own [][]byte
		for n := 1 + rng.IntN(4); n > 0; n-- {
			if rng.IntN(4) == 0 {
				openSwap(rng.IntN(2))
			}
			s := driverSizes[rng.IntN(len(driverSizes))]
			free := r.Available()
			b, _, err := r.Alloc(s.size, s.align)
			switch {
			case err == nil:
				own = append(own, b)
			case free >= 2*(s.size+s.align):
				failures++
				if failures <= 5 {
					t.Errorf("phase %d: %d bytes aligned to %d refused with %d free: %+v", phase, s.size, s.align, free, r.Stats())
				}
			}
		}
		for _, b := range own {
			r.Free(b)
		}
	}
	st := r.Stats()
	t.Logf("after 20000 phases: %+v", st)
	if st.Spans > 4 {
		t.Errorf("%d free spans between commands, want at most 4", st.Spans)
	}
}
