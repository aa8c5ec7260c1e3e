package imx6

import (
	"testing"

	"github.com/tamaswap/tamaswap/drivers/usdhc"
)

// Every line a buffer touches gets exactly one operation; Unshare
// FromDevice invalidates only lines that lie wholly inside the buffer.
func TestMaintenance(t *testing.T) {
	const line = 64
	for _, dir := range []usdhc.Direction{usdhc.ToDevice, usdhc.FromDevice} {
		for _, share := range []bool{true, false} {
			for p := uintptr(0x80000000); p < 0x80000000+2*line; p += 4 {
				for _, n := range []uintptr{0, 1, 4, 60, 64, 65, 128, 129, 512, 4096 + 12} {
					check(t, p, n, line, dir, share)
				}
			}
		}
	}
}

func check(t *testing.T, p, n, line uintptr, dir usdhc.Direction, share bool) {
	t.Helper()
	ops, k := maintenance(p, n, line, dir, share)
	covered := map[uintptr]cacheOp{}
	for _, o := range ops[:k] {
		if o.start%line != 0 || o.end%line != 0 || o.end <= o.start {
			t.Fatalf("p=%#x n=%d dir=%d share=%t: range %#x-%#x is not whole lines", p, n, dir, share, o.start, o.end)
		}
		for a := o.start; a < o.end; a += line {
			if _, dup := covered[a]; dup {
				t.Fatalf("p=%#x n=%d dir=%d share=%t: line %#x maintained twice", p, n, dir, share, a)
			}
			covered[a] = o.op
		}
	}
	var want int
	if n > 0 && (share || dir == usdhc.FromDevice) {
		want = int(((p+n+line-1)&^(line-1) - p&^(line-1)) / line)
	}
	if len(covered) != want {
		t.Fatalf("p=%#x n=%d dir=%d share=%t: %d lines maintained, want %d", p, n, dir, share, len(covered), want)
	}
	for a, op := range covered {
		if a+line <= p || a >= p+n {
			t.Fatalf("p=%#x n=%d: line %#x outside the buffer", p, n, a)
		}
		whole := a >= p && a+line <= p+n
		var wantOp cacheOp
		switch {
		case share && dir == usdhc.ToDevice:
			wantOp = opClean
		case share:
			wantOp = opCleanInvalidate
		case whole:
			wantOp = opInvalidate
		default:
			wantOp = opCleanInvalidate
		}
		if op != wantOp {
			t.Fatalf("p=%#x n=%d dir=%d share=%t: line %#x gets op %d, want %d", p, n, dir, share, a, op, wantOp)
		}
	}
}
