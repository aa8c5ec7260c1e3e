package swapfs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// TestEncryptedOracle is TestOracle with encryption.
func TestEncryptedOracle(t *testing.T) {
	rounds := 8
	if testing.Short() {
		rounds = 2
	}
	for round := range rounds {
		r := rand.New(rand.NewPCG(uint64(round), 3))
		bf := 1 + r.IntN(10240)
		if round%2 == 0 {
			bf = 1 + r.IntN(64)
		}
		t.Run(fmt.Sprintf("round%d-bf%d", round, bf), func(t *testing.T) {
			oracleRound(t, r, bf, []Option{WithEncryption()})
		})
	}
}

// rawUnit returns where logical unit lu of h lies in m's bytes.
func rawUnit(fs *FS, h *Handle, lu int64) (from, to int64) {
	sector, _ := fs.mapRun(h.st, lu, lu+1)
	from = sector * fs.sectorSize
	return from, from + fs.unitSize
}

// windows returns every 16-byte run of p.
func windows(p []byte) map[[16]byte]bool {
	w := make(map[[16]byte]bool)
	for i := 0; i+16 <= len(p); i++ {
		w[[16]byte(p[i:])] = true
	}
	return w
}

// leaks counts the 16-byte runs of raw found in w.
func leaks(raw []byte, w map[[16]byte]bool) int {
	n := 0
	for i := 0; i+16 <= len(raw); i++ {
		if w[[16]byte(raw[i:])] {
			n++
		}
	}
	return n
}

// swaptestPattern is a pattern like the in-image swaptest's: runs of 'E'
// and of a counter, no 16 zero bytes.
func swaptestPattern(n int) []byte {
	p := bytes.Repeat([]byte{'E'}, n)
	for i := 0; i+40 < n; i += 1000 {
		copy(p[i:], fmt.Sprintf("swap secret %026d", i))
	}
	return p
}

// TestEncryptedNoPlaintext writes a known pattern through encrypted swap
// and finds no 16-byte run of it on the disk; plain swap, the control,
// shows it.
func TestEncryptedNoPlaintext(t *testing.T) {
	pattern := swaptestPattern(3<<20 + 1234)
	w := windows(pattern)
	for _, enc := range []bool{false, true} {
		mem := newMem(512, 8<<11)
		opts := []Option{WithBlockingFactor(256)}
		if enc {
			opts = append(opts, WithEncryption())
		}
		fs := mustNew(t, mem, opts...)
		h := fs.Empty()
		for p := pattern; len(p) > 0; {
			n := min(len(p), 65536+17)
			if err := h.Append(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		checkRead(t, h, pattern, 0, len(pattern))
		n := leaks(mem.Bytes(), w)
		switch {
		case enc && n != 0:
			t.Errorf("encrypted: %d 16-byte runs of the plaintext on the disk", n)
		case !enc && n == 0:
			t.Errorf("plain: the scan finds no plaintext: the test is broken")
		}
	}
}

// TestEncryptedFreshKeys checks that two FSs write the same data
// differently, and that rewriting a unit after a failed write uses a new
// nonce.
func TestEncryptedFreshKeys(t *testing.T) {
	data := swaptestPattern(8192)
	var raws [2][]byte
	for i := range raws {
		mem := newMem(512, 64)
		fs := mustNew(t, mem, WithEncryption(), WithBlockingFactor(8))
		if err := fs.Empty().Append(data); err != nil {
			t.Fatal(err)
		}
		raws[i] = mem.Bytes()
	}
	if bytes.Equal(raws[0][:4096], raws[1][:4096]) {
		t.Fatal("two FSs wrote the same ciphertext: keys are not fresh")
	}

	// A write that reaches the disk but reports failure, retried with
	// the same plaintext: the two ciphertexts differ.
	// One block: a freed block is the next one taken.
	dev := &fullThenFail{Mem: newMem(512, 8)}
	fs := mustNew(t, dev, WithEncryption(), WithBlockingFactor(8))
	h := fs.Empty()
	if err := h.Append(data[:80]); err != nil { // in memory, in block 0
		t.Fatal(err)
	}
	dev.fail = true
	if err := h.Append(data[80:4080]); !errors.Is(err, block.ErrIO) {
		t.Fatalf("failing Append: %v", err)
	}
	dev.fail = false
	first := bytes.Clone(dev.Bytes()[:4096])
	if err := h.Append(data[80:4080]); err != nil {
		t.Fatal(err)
	}
	if from, _ := rawUnit(fs, h, 0); from != 0 {
		t.Fatalf("setup: unit 0 at %d", from)
	}
	if bytes.Equal(first, dev.Bytes()[:4096]) {
		t.Fatal("a retried write reused its nonce")
	}
	// The same plaintext in the same place after the block's reuse.
	first = bytes.Clone(dev.Bytes()[:4096])
	h.Free()
	g := fs.Empty()
	if err := g.Append(data[:4080]); err != nil {
		t.Fatal(err)
	}
	if from, _ := rawUnit(fs, g, 0); from != 0 {
		t.Fatalf("setup: the block was not reused (%d)", from)
	}
	if bytes.Equal(first, dev.Bytes()[:4096]) {
		t.Fatal("a reused block's unit reused its nonce")
	}
	checkRead(t, g, data[:4080], 0, 4080)
}

// TestEncryptedTamper alters the raw disk: a flipped bit, two swapped
// sectors, an old write replayed. Reads of the affected range fail with
// ErrCorrupt, never return wrong data; other ranges read fine and the
// handle stays usable.
func TestEncryptedTamper(t *testing.T) {
	setup := func(t *testing.T) (*block.Mem, *FS, *Handle, []byte) {
		// Three blocks of 8 units: a freed block is the next one taken.
		mem := newMem(512, 3*64)
		fs := mustNew(t, mem, WithEncryption(), WithBlockingFactor(64))
		h := fs.Empty()
		r := rand.New(rand.NewPCG(5, 5))
		model := randBytes(r, 20*4080+100)
		if err := h.Append(model); err != nil {
			t.Fatal(err)
		}
		return mem, fs, h, model
	}
	up := int64(4080)
	// expect checks that units bad read as ErrCorrupt and all others read
	// back correctly, alone and in a read of everything.
	expect := func(t *testing.T, h *Handle, model []byte, bad ...int64) {
		t.Helper()
		isBad := func(lu int64) bool {
			for _, b := range bad {
				if b == lu {
					return true
				}
			}
			return false
		}
		for lu := int64(0); lu*up < int64(len(model)); lu++ {
			off := lu * up
			n := int(min(up, int64(len(model))-off))
			if !isBad(lu) {
				checkRead(t, h, model, off, n)
				continue
			}
			// Each read touching the unit fails, and returns no byte of it.
			for _, rd := range [][2]int64{{off, int64(n)}, {off + 100, 1}, {max(off-50, 0), 100}} {
				p := bytes.Repeat([]byte{scratch}, int(rd[1]))
				m, err := h.ReadAt(p, rd[0])
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("ReadAt(%d, %d) of tampered unit %d: %d, %v; want ErrCorrupt", rd[1], rd[0], lu, m, err)
				}
				if rd[0]+int64(m) > max(rd[0], off) || !bytes.Equal(p[:m], model[rd[0]:rd[0]+int64(m)]) {
					t.Fatalf("ReadAt(%d, %d) of tampered unit %d returned %d bytes", rd[1], rd[0], lu, m)
				}
				checkScratch(t, p[m:])
			}
		}
		// A read of everything stops at the first bad unit, with the
		// bytes before it.
		p := bytes.Repeat([]byte{scratch}, len(model))
		m, err := h.ReadAt(p, 0)
		if len(bad) > 0 && (!errors.Is(err, ErrCorrupt) || !bytes.Equal(p[:m], model[:m])) {
			t.Fatalf("ReadAt of everything: %d, %v", m, err)
		}
		if len(bad) > 0 {
			checkScratch(t, p[m:])
		}
		// The handle goes on working.
		more := bytes.Repeat([]byte{7}, 5000)
		if err := h.Append(more); err != nil {
			t.Fatal(err)
		}
		checkRead(t, h, append(bytes.Clone(model), more...), int64(len(model)-100), 5100)
	}

	t.Run("untouched", func(t *testing.T) {
		_, _, h, model := setup(t)
		expect(t, h, model)
	})
	t.Run("bitflip", func(t *testing.T) {
		for _, at := range []int64{0, 1000, 4079, 4080 + 4095} { // payload, tag, and sectors of a unit
			mem, fs, h, model := setup(t)
			lu := at / 4096
			from, _ := rawUnit(fs, h, lu)
			mem.Bytes()[from+at%4096] ^= 0x10
			expect(t, h, model, lu)
		}
	})
	t.Run("swap sectors of two units", func(t *testing.T) {
		mem, fs, h, model := setup(t)
		a, _ := rawUnit(fs, h, 3)
		b, _ := rawUnit(fs, h, 9)
		a, b = a+1024, b+1024
		raw := mem.Bytes()
		tmp := bytes.Clone(raw[a : a+512])
		copy(raw[a:a+512], raw[b:b+512])
		copy(raw[b:b+512], tmp)
		expect(t, h, model, 3, 9)
	})
	t.Run("swap sectors in one unit", func(t *testing.T) {
		mem, fs, h, model := setup(t)
		a, _ := rawUnit(fs, h, 5)
		raw := mem.Bytes()
		tmp := bytes.Clone(raw[a : a+512])
		copy(raw[a:a+512], raw[a+512:a+1024])
		copy(raw[a+512:a+1024], tmp)
		expect(t, h, model, 5)
	})
	t.Run("swap whole units", func(t *testing.T) {
		mem, fs, h, model := setup(t)
		a, ae := rawUnit(fs, h, 2)
		b, be := rawUnit(fs, h, 12)
		raw := mem.Bytes()
		tmp := bytes.Clone(raw[a:ae])
		copy(raw[a:ae], raw[b:be])
		copy(raw[b:be], tmp)
		expect(t, h, model, 2, 12)
	})
	t.Run("replay after reuse", func(t *testing.T) {
		mem, fs, h, model := setup(t)
		from, to := rawUnit(fs, h, 4)
		old := bytes.Clone(mem.Bytes()[from:to])
		h.Free()
		// The blocks come back to the next handle, same places.
		g := fs.Empty()
		model = bytes.Repeat([]byte{0x5A}, len(model))
		if err := g.Append(model); err != nil {
			t.Fatal(err)
		}
		if f2, _ := rawUnit(fs, g, 4); f2 != from {
			t.Fatalf("setup: unit 4 moved from %d to %d", from, f2)
		}
		copy(mem.Bytes()[from:to], old)
		expect(t, g, model, 4)
	})
	t.Run("replay of a failed write", func(t *testing.T) {
		mem := newMem(512, 1024)
		dev := &fullThenFail{Mem: mem}
		// Without read-ahead: it would serve the first read's bytes,
		// authenticated before the host tampers, from memory.
		fs := mustNew(t, dev, WithEncryption(), WithBlockingFactor(64), WithStreamBuffers(0))
		h := fs.Empty()
		model := swaptestPattern(3 * 4080)
		if err := h.Append(model); err != nil {
			t.Fatal(err)
		}
		// This append's write reaches the disk whole, then fails.
		dev.fail = true
		bad := bytes.Repeat([]byte{0xBA}, 2*4080)
		if err := h.Append(bad); !errors.Is(err, block.ErrIO) {
			t.Fatalf("failing Append: %v", err)
		}
		dev.fail = false
		from, to := rawUnit(fs, h, 3)
		old := bytes.Clone(mem.Bytes()[from:to])
		more := swaptestPattern(2 * 4080)
		if err := h.Append(more); err != nil {
			t.Fatal(err)
		}
		model = append(model, more...)
		checkRead(t, h, model, 0, len(model))
		// The host puts back what the failed write left.
		copy(mem.Bytes()[from:to], old)
		expect(t, h, model, 3)
	})
}

// scratch fills a read's buffer before a read that should fail.
const scratch = 0xEE

// checkScratch checks that the part of a read's buffer past the bytes
// returned holds no data: only the scratch byte it was filled with, or the
// zeros a failed in-place open leaves. Unauthenticated plaintext there
// would be random-looking.
func checkScratch(t *testing.T, rest []byte) {
	t.Helper()
	for i, c := range rest {
		if c != scratch && c != 0 {
			t.Fatalf("byte %d past the bytes read is %#x: unauthenticated data reached the buffer", i, c)
		}
	}
}

// fullThenFail writes every request in full and, while fail is set,
// reports an I/O error anyway.
type fullThenFail struct {
	*block.Mem
	fail bool
}

func (d *fullThenFail) Write(sector int64, bufs ...[]byte) error {
	if err := d.Mem.Write(sector, bufs...); err != nil {
		return err
	}
	if d.fail {
		return block.Errorf("write", sector, block.ErrIO)
	}
	return nil
}

func TestEncryptedGeometry(t *testing.T) {
	for _, c := range []struct {
		ss, bf              int
		blockSize, counters int64
	}{
		{512, 1, 4096, 4096 * 64 / 4096},
		{512, 9, 8192, 2 * 4096 * 64 / 8192},
		{512, 2048, 1 << 20, 0},
		{4096, 1, 4096, 64},
		{8192, 3, 3 * 8192, 32 / 3 * 3},
	} {
		sectors := int64(4096 * 64 / c.ss)
		fs := mustNew(t, newMem(c.ss, sectors), WithEncryption(), WithBlockingFactor(c.bf))
		st := fs.Stats()
		if st.BlockSize != c.blockSize {
			t.Errorf("sector %d, factor %d: BlockSize %d, want %d", c.ss, c.bf, st.BlockSize, c.blockSize)
		}
		units := st.TotalBlocks * fs.unitsPerBlock
		if units != c.counters || st.BookkeepingBytes != int64(len(fs.bitmap))*8+4*units {
			t.Errorf("sector %d, factor %d: %d units (want %d), bookkeeping %d", c.ss, c.bf, units, c.counters, st.BookkeepingBytes)
		}
		if fs.unitSize < 4096 || fs.unitSize%int64(c.ss) != 0 || fs.unitPayload != fs.unitSize-16 {
			t.Errorf("sector %d: unit %d bytes, payload %d", c.ss, fs.unitSize, fs.unitPayload)
		}
		// Full disk, to the byte.
		h := fs.Empty()
		capacity := st.TotalBlocks * fs.blockPayload
		if capacity > 0 {
			data := swaptestPattern(int(capacity))
			if err := h.Append(data); err != nil {
				t.Fatal(err)
			}
			if err := h.Append([]byte{1}); !errors.Is(err, ErrOutOfSpace) {
				t.Fatalf("Append past capacity: %v", err)
			}
			checkRead(t, h, data, 0, len(data))
		}
	}
	// RAM per GiB of encrypted swap with the defaults: counters and bitmap.
	fs := mustNew(t, badInfo{block.Info{ReadWrite: true, SectorSize: 512, Sectors: 1 << 21}}, WithEncryption())
	if b := fs.Stats().BookkeepingBytes; b > 2<<20 {
		t.Errorf("bookkeeping of 1 GiB of encrypted swap: %d bytes, over 2 MiB", b)
	} else {
		t.Logf("bookkeeping of 1 GiB of encrypted swap: %d bytes", b)
	}
}

// TestEncryptedRequests: the request targets hold with encryption too.
func TestEncryptedRequests(t *testing.T) {
	dev := &countDev{Mem: newMem(512, 16*2048)}
	fs := mustNew(t, dev, WithEncryption())
	h := fs.Empty()
	chunk := make([]byte, 64<<10)
	for h.Size() < 4<<20 {
		if err := h.Append(chunk); err != nil {
			t.Fatal(err)
		}
	}
	mib := float64(h.Size()) / (1 << 20)
	if r, w := dev.reads.Load(), dev.writes.Load(); r != 0 || float64(w)/mib > 17 {
		t.Errorf("4 MiB in 64 KiB appends: %d reads, %.1f writes/MiB; want 0, <= 17", r, float64(w)/mib)
	}
	dev.reset()
	for off := int64(0); off+int64(len(chunk)) <= h.Size(); off += int64(len(chunk)) {
		if _, err := h.ReadAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	if r := dev.reads.Load(); float64(r)/mib > 17 {
		t.Errorf("64 KiB reads: %.1f reads/MiB, want <= 17", float64(r)/mib)
	}
}

func TestEncryptedNoAllocs(t *testing.T) { checkNoAllocs(t, WithEncryption()) }
