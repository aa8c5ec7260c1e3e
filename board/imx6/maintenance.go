package imx6

import "github.com/tamaswap/tamaswap/drivers/usdhc"

// cacheOp is one data cache maintenance operation by virtual address to
// the point of coherency (ARM ARM B4.2.1).
type cacheOp uint8

const (
	opClean           cacheOp = iota + 1 // DCCMVAC: write dirty lines back
	opCleanInvalidate                    // DCCIMVAC: write back, then drop
	opInvalidate                         // DCIMVAC: drop, dirty or not
)

// lineRange is one operation over the whole cache lines [start, end).
type lineRange struct {
	op         cacheOp
	start, end uintptr
}

// maintenance returns the operations that Share (share) or Unshare
// (!share) does for the n bytes at p in direction dir, with cache lines
// of line bytes (a power of two): at most three, in ops[:k]. It is plain
// arithmetic, kept apart from the CP15 instructions so that the host can
// test it, and allocates nothing.
//
//   - Share ToDevice cleans every line the buffer touches; Share
//     FromDevice cleans and invalidates them.
//   - Unshare FromDevice invalidates the lines wholly inside the buffer,
//     and cleans and invalidates a partial line at either end instead,
//     since invalidating it would drop whatever else it holds.
//   - Unshare ToDevice does nothing: the device only read.
func maintenance(p, n, line uintptr, dir usdhc.Direction, share bool) (ops [3]lineRange, k int) {
	if n == 0 {
		return ops, 0
	}
	start, end := p&^(line-1), (p+n+line-1)&^(line-1)
	switch {
	case share && dir == usdhc.ToDevice:
		ops[0] = lineRange{opClean, start, end}
		return ops, 1
	case share && dir == usdhc.FromDevice:
		ops[0] = lineRange{opCleanInvalidate, start, end}
		return ops, 1
	case share || dir != usdhc.FromDevice:
		return ops, 0
	}
	if p != start {
		ops[k] = lineRange{opCleanInvalidate, start, start + line}
		k++
		start += line
	}
	if p+n != end && end > start {
		ops[k] = lineRange{opCleanInvalidate, end - line, end}
		k++
		end -= line
	}
	if end > start {
		ops[k] = lineRange{opInvalidate, start, end}
		k++
	}
	return ops, k
}
