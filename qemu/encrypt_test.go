package qemu

import (
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// swaptestPattern returns n bytes of swaptest's pattern for seed from
// file offset off on, written from the README's formula: the byte at
// offset o is byte o mod 8 (little-endian) of (seed XOR o/8) *
// 0x9e3779b97f4a7c15 mod 2^64.
func swaptestPattern(seed uint64, off int64, n int) []byte {
	p := make([]byte, n)
	var w [8]byte
	for i := range p {
		o := off + int64(i)
		binary.LittleEndian.PutUint64(w[:], (seed^uint64(o/8))*0x9e3779b97f4a7c15)
		p[i] = w[o%8]
	}
	return p
}

// swaptestScan counts how many of the 64-byte pieces of swaptest's
// pattern, one from each MiB of a size-byte file (off any boundary), the
// raw image holds.
func swaptestScan(raw []byte, seed uint64, size int64) (found, pieces int) {
	for off := int64(12345); off+64 <= size; off += 1 << 20 {
		pieces++
		if bytes.Contains(raw, swaptestPattern(seed, off, 64)) {
			found++
		}
	}
	return found, pieces
}

// swaptestSeed returns the seed=N field of a swaptest PASS line.
func swaptestSeed(t *testing.T, line string) uint64 {
	t.Helper()
	i := strings.Index(line, " seed=")
	if i < 0 {
		t.Fatalf("no seed in %q", line)
	}
	seed, err := strconv.ParseUint(strings.Fields(line[i+len(" seed="):])[0], 10, 64)
	if err != nil {
		t.Fatalf("seed in %q: %v", line, err)
	}
	return seed
}

// TestEncryptedSwapOnDisk checks encrypted swap against QEMU's real
// device: the host holding the swap disk cannot read what it stored.
// swaptest streams a pattern made of each byte's offset and the run's
// seed (printed on its PASS line); the host regenerates pieces of it and
// searches the raw image. After `swaptest --encrypt` it finds none,
// while after a plain swaptest on an identical disk it finds every one,
// so the scan itself can fail.
func TestEncryptedSwapOnDisk(t *testing.T) { forQEMUs(t, testEncryptedSwapOnDisk) }

func testEncryptedSwapOnDisk(t *testing.T, q string) {
	needQEMU(t)
	t.Parallel()
	const size = 16 << 20
	for _, c := range []struct {
		name, flag string
		wantFound  bool
	}{
		{"encrypted", " --encrypt", false},
		{"plain", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := newImage(t, "swap.img", 64<<20, false)
			g := boot(t, harness.Options{Runtime: "hosted", QEMU: q, Drives: []string{harness.DiskDrive(img)}},
				"swaptest 16M 64K"+c.flag, "exit 0")
			if g.status != 0 {
				t.Errorf("exit status %d, want 0", g.status)
			}
			r := g.results("swaptest")
			if len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=16777216 ") {
				t.Fatalf("swaptest 16M%s printed %q, want PASS", c.flag, r)
			}
			seed := swaptestSeed(t, r[len(r)-1])
			raw, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			found, pieces := swaptestScan(raw, seed, size)
			if c.wantFound && found != pieces || !c.wantFound && found != 0 {
				t.Errorf("%d of %d pieces of the pattern (seed %d) in the raw image after swaptest%s, want %v",
					found, pieces, seed, c.flag, map[bool]string{true: "all", false: "none"}[c.wantFound])
			}
			t.Logf("%d of %d pieces of the pattern (seed %d) in the raw image", found, pieces, seed)
		})
	}
}

// For the TamaGo boot tests, in package qemu_test.
var SwaptestScan, SwaptestSeed = swaptestScan, swaptestSeed
