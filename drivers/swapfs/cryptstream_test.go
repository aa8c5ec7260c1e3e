package swapfs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// TestEncryptedStreamRequests: an encrypted file streamed in 64 KiB pieces
// moves in granule-sized requests past its first granule, both ways, as a
// plain one does, and what reaches the disk is ciphertext.
func TestEncryptedStreamRequests(t *testing.T) {
	dev := &countDev{Mem: newMem(512, 16*2048)}
	fs := mustNew(t, dev, WithEncryption())
	h := fs.Empty()
	model := swaptestPattern(8 << 20)
	appendChunks(t, h, model, 64<<10)
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	granules := int64(len(model)) / fs.granule
	// The first granule goes unbuffered, 64 KiB at a time (17 requests:
	// pieces straddle units); then one request per granule, and Sync's.
	if w := dev.writes.Load(); w > 17+granules+1 {
		t.Errorf("%d writes for %d granules: not streaming", w, granules)
	}
	if h.st.pend != nil || int64(len(h.st.tail)) >= fs.unitPayload {
		t.Errorf("Sync left a write behind or %d bytes of complete units in memory", len(h.st.tail))
	}
	// No 64-byte run of the file is on the disk in the clear.
	raw := dev.Bytes()
	for _, off := range []int{0, 1 << 20, 3<<20 + 12345, len(model) - 100} {
		if bytes.Contains(raw, model[off:off+64]) {
			t.Errorf("plaintext at file offset %d found on the disk", off)
		}
	}
	dev.reset()
	p := make([]byte, 64<<10)
	for off := int64(0); off < int64(len(model)); off += int64(len(p)) {
		n, err := h.ReadAt(p, off)
		if err != nil || !bytes.Equal(p[:n], model[off:off+int64(n)]) {
			t.Fatalf("ReadAt(64K, %d): %d, %v or wrong data", off, n, err)
		}
	}
	if r := dev.reads.Load(); r > granules+2 {
		t.Errorf("%d reads for %d granules: no read-ahead", r, granules)
	}
	h.Free()
	checkReleased(t, fs)
}

// TestEncryptedWriteBehindFailure: a failed encrypted write-behind keeps
// its plaintext, readable; its retry seals again under a new counter, so
// no two writes of a unit share a nonce; Sync then puts every complete
// unit on the disk, where it reads back after the memory is gone.
func TestEncryptedWriteBehindFailure(t *testing.T) {
	dev := &failDev{Mem: newMem(512, 16*2048)}
	fs := mustNew(t, dev, WithEncryption())
	h := fs.Empty()
	r := rand.New(rand.NewPCG(3, 4))
	g := int(fs.granule)
	model := randBytes(r, 2*g+3000)
	appendChunks(t, h, model[:2*g-10], 64<<10)
	var failures atomic.Int64
	dev.set(nil, func(int64, int64) bool { failures.Add(1); return true })
	if err := h.Append(model[2*g-10:]); err != nil {
		t.Fatalf("Append that starts a write behind: %v", err)
	}
	checkRead(t, h, model, 0, len(model))
	if err := h.Sync(); !errors.Is(err, block.ErrIO) {
		t.Fatalf("Sync on a failing disk: %v, want ErrIO", err)
	}
	if n := failures.Load(); n != 2 {
		t.Errorf("%d attempts at the failed write, want 2 (background, retry)", n)
	}
	checkRead(t, h, model, 0, len(model))
	// Granule 1's first unit: sealed once per attempt.
	pu, _ := rawUnit(fs, h, int64(g)/fs.unitPayload)
	pu /= fs.unitSize
	before := fs.seal.ctr[pu]
	dev.set(nil, nil)
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	if after := fs.seal.ctr[pu]; after != before+1 || before < 2 {
		t.Errorf("unit %d sealed %d times before the disk healed and %d after; want each attempt its own counter", pu, before, after-before)
	}
	// Read it from the disk: a fresh handle's worth of read-ahead can
	// only come from there now.
	h.st.ra.drop(fs)
	checkRead(t, h, model, 0, len(model))
	p := make([]byte, 4096)
	for off := int64(0); off < int64(len(model)); off += int64(len(p)) {
		checkRead(t, h, model, off, len(p))
	}
	h.Free()
	checkReleased(t, fs)
}

// TestEncryptedSealAhead: past its first granule an encrypted handle
// seals each unit as it completes, so that a granule is sealed by the
// time it is written; reads of those bytes still see the plaintext.
func TestEncryptedSealAhead(t *testing.T) {
	dev := &countDev{Mem: newMem(512, 16*2048)}
	fs := mustNew(t, dev, WithEncryption())
	h := fs.Empty()
	g := int(fs.granule)
	model := swaptestPattern(g + g/2 + 100)
	appendChunks(t, h, model, 64<<10)
	st := h.st
	if st.twire == nil {
		t.Fatal("no stream buffer for sealed units")
	}
	if want := (len(model) - g) / int(fs.unitPayload); st.sealed != want {
		t.Errorf("%d units of the tail sealed, want %d", st.sealed, want)
	}
	checkRead(t, h, model, 0, len(model))
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	st.ra.drop(fs)
	p := make([]byte, 4000)
	for off := int64(0); off < int64(len(model)); off += int64(len(p)) {
		checkRead(t, h, model, off, len(p))
	}
	h.Free()
	checkReleased(t, fs)
}

// TestEncryptedAppendThenReadAhead: a handle still writing behind (no
// Sync) leaves an encrypted FS's default stream buffers enough for a
// read-ahead of its own file.
func TestEncryptedAppendThenReadAhead(t *testing.T) {
	dev := &countDev{Mem: newMem(512, 16*2048)}
	fs := mustNew(t, dev, WithEncryption())
	h := fs.Empty()
	model := swaptestPattern(6 << 20)
	appendChunks(t, h, model, 64<<10)
	if h.st.pend == nil {
		t.Fatal("setup: no write-behind under way")
	}
	dev.reset()
	p := make([]byte, 64<<10)
	diskEnd := h.st.pendOff
	for off := int64(0); off+int64(len(p)) <= diskEnd; off += int64(len(p)) {
		checkRead(t, h, model, off, len(p))
	}
	if r, granules := dev.reads.Load(), diskEnd/fs.granule; r > granules+2 {
		t.Errorf("%d reads for %d granules: no read-ahead beside the write-behind", r, granules)
	}
	h.Free()
	checkReleased(t, fs)
}
