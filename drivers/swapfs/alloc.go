package swapfs

import "math/bits"

// extent is a run of physically contiguous blocks of a handle. Its file
// (logical) blocks end at lend; they start where the previous extent's
// end, or at 0 for the first.
type extent struct {
	pstart int64 // first block on the device
	lend   int64 // logical block just past the extent
}

func (fs *FS) setUsed(b int64)   { fs.bitmap[b>>6] |= 1 << (b & 63) }
func (fs *FS) clearUsed(b int64) { fs.bitmap[b>>6] &^= 1 << (b & 63) }
func (fs *FS) used(b int64) bool { return fs.bitmap[b>>6]&(1<<(b&63)) != 0 }

// findFree returns the first free block at or after from, wrapping
// around. The caller holds fs.mu and has checked that fs.free > 0.
func (fs *FS) findFree(from int64) int64 {
	w := from >> 6
	if w >= int64(len(fs.bitmap)) {
		w, from = 0, 0
	}
	// The first word, without the bits before from.
	if free := ^fs.bitmap[w] &^ (1<<(from&63) - 1); free != 0 {
		return w<<6 + int64(bits.TrailingZeros64(free))
	}
	for i := 1; i <= len(fs.bitmap); i++ {
		w++
		if w == int64(len(fs.bitmap)) {
			w = 0
		}
		if free := ^fs.bitmap[w]; free != 0 {
			return w<<6 + int64(bits.TrailingZeros64(free))
		}
	}
	panic("swapfs: free count and bitmap disagree") // unreachable: fs.free > 0
}

// maxRunScan bounds how far freeRun looks, keeping allocation O(1).
const maxRunScan = 1024

// freeRun returns how many blocks from b on are free, up to limit. The
// caller holds fs.mu.
func (fs *FS) freeRun(b, limit int64) int64 {
	n := int64(0)
	for n < limit {
		i := b + n
		if i >= fs.total {
			break
		}
		w := fs.bitmap[i>>6] >> (i & 63)
		if w != 0 {
			n += int64(bits.TrailingZeros64(w))
			break
		}
		n += 64 - i&63 // the rest of the word is free
	}
	return min(n, limit, fs.total-b)
}

// grow adds n blocks to the end of st's extents, all or none: with fewer
// than n free it returns ErrOutOfSpace and changes nothing. The caller
// holds st.mu.
func (fs *FS) grow(st *hstate, n int64) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if n > fs.free {
		return ErrOutOfSpace
	}
	oldLen := len(st.ext)
	for ; n > 0; n-- {
		// Prefer the block right after the handle's last one: the extent
		// grows instead of a new one starting.
		b := int64(-1)
		if l := len(st.ext); l > 0 {
			if next := st.ext[l-1].pstart + st.ext[l-1].lend - st.lstart(l-1); next < fs.total && !fs.used(next) {
				b = next
			}
		}
		if b < 0 {
			b = fs.findFree(fs.hint)
			// A free run right after someone's blocks: start in its
			// middle, leaving the first half for them to grow into.
			if b > 0 && fs.used(b-1) {
				if run := fs.freeRun(b, maxRunScan); run > 1 {
					b += run / 2
				}
			}
		}
		fs.setUsed(b)
		fs.free--
		fs.hint = b + 1
		if l := len(st.ext); l > 0 && st.ext[l-1].pstart+st.ext[l-1].lend-st.lstart(l-1) == b {
			st.ext[l-1].lend++
		} else {
			st.ext = append(st.ext, extent{pstart: b, lend: st.blocks + 1})
		}
		st.blocks++
	}
	fs.extents.Add(int64(len(st.ext) - oldLen))
	return nil
}

// shrink frees st's blocks from logical block keep on. The caller holds
// st.mu.
func (fs *FS) shrink(st *hstate, keep int64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	oldLen := len(st.ext)
	for l := len(st.ext); l > 0 && st.ext[l-1].lend > keep; l = len(st.ext) {
		e := &st.ext[l-1]
		ls := st.lstart(l - 1)
		from := max(keep, ls)
		for lb := from; lb < e.lend; lb++ {
			fs.clearUsed(e.pstart + lb - ls)
		}
		fs.free += e.lend - from
		if from == ls {
			st.ext = st.ext[:l-1]
		} else {
			e.lend = from
		}
	}
	st.blocks = min(st.blocks, keep)
	fs.extents.Add(int64(len(st.ext) - oldLen))
}

// lstart returns the first logical block of extent i.
func (st *hstate) lstart(i int) int64 {
	if i == 0 {
		return 0
	}
	return st.ext[i-1].lend
}

// findExtent returns the index of the extent holding logical block lb,
// which the caller knows exists.
func (st *hstate) findExtent(lb int64) int {
	lo, hi := 0, len(st.ext)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if st.ext[m].lend > lb {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}
