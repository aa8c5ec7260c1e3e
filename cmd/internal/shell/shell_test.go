package shell

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tamaswap/tamaswap/cmd/internal/workload"
	"github.com/tamaswap/tamaswap/drivers/block"
)

// lines records output and checks that every Write is one whole line.
type lines struct {
	t  *testing.T
	mu sync.Mutex
	l  []string
}

func (w *lines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := string(p)
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		w.t.Errorf("Write of %q is not one whole line", s)
	}
	w.l = append(w.l, strings.TrimSuffix(s, "\n"))
	return len(p), nil
}

// run runs script and returns the lines after the banner and the status.
func run(t *testing.T, disks []Disk, script string) ([]string, int) {
	t.Helper()
	out := &lines{t: t}
	code := Run(Config{Runtime: "hosted", Platform: "microvm", In: strings.NewReader(script), Out: out, Disks: disks})
	return out.l[1+len(disks):], code
}

func mem(sectors int64, ss int) *block.Mem {
	return block.NewMem(block.Info{ReadWrite: true, SectorSize: ss, Sectors: sectors})
}

func mkdisk(dev block.Device) Disk {
	return Disk{Dev: dev, Transport: "mmio", Version: "modern", Features: []string{"SEG_MAX", "BLK_SIZE", "FLUSH", "VERSION_1"}}
}

// want compares got with the expected lines; an expected line that starts
// with "~" is a regular expression.
func want(t *testing.T, got []string, exp ...string) {
	t.Helper()
	ok := len(got) == len(exp)
	for i := 0; ok && i < len(exp); i++ {
		if e, isRE := strings.CutPrefix(exp[i], "~"); isRE {
			ok = regexp.MustCompile("^" + e + "$").MatchString(got[i])
		} else {
			ok = got[i] == exp[i]
		}
	}
	if !ok {
		t.Errorf("got lines:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(exp, "\n\t"))
	}
}

func TestBannerAndInfo(t *testing.T) {
	ro := block.NewMem(block.Info{SectorSize: 4096, Sectors: 256})
	sd := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 8192})
	disks := []Disk{mkdisk(mem(4096, 512)), {Dev: ro, Transport: "pci", Version: "legacy", Queues: 1, Ring: "split"},
		{Dev: sd, Transport: "usdhc", Controller: "usdhc2", Version: "sdhc", Features: []string{"4BIT"}, IRQ: &fakeIRQ{line: 7, on: true}}}
	out := &lines{t: t}
	code := Run(Config{Runtime: "tamago", Platform: "microvm", In: strings.NewReader("info\n"), Out: out, Disks: disks})
	info0 := "info: disk=0 transport=mmio version=modern sectors=4096 sector_size=512 ro=false features=SEG_MAX,BLK_SIZE,FLUSH,VERSION_1 irq=poll"
	info1 := "info: disk=1 transport=pci version=legacy sectors=256 sector_size=4096 ro=true features= queues=1 ring=split irq=poll"
	info2 := "info: disk=2 transport=usdhc controller=usdhc2 version=sdhc sectors=8192 sector_size=512 ro=false features=4BIT irq=7"
	want(t, out.l,
		fmt.Sprintf("tamaswap: runtime=tamago platform=microvm go=%s arch=%s disks=3", runtime.Version(), runtime.GOARCH),
		info0, info1, info2, info0, info1, info2)
	if code != 0 {
		t.Errorf("status %d at end of input, want 0", code)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestFillSum(t *testing.T) {
	m := mem(8192, 512) // 4 MiB: fill and sum of 3000 sectors cross the 1 MiB buffer
	m4k := mem(512, 4096)
	got, _ := run(t, []Disk{mkdisk(m), mkdisk(m4k)}, strings.Join([]string{
		"fill 10 5 171",
		"sum 10 5",
		"sum 0 3",
		"fill 100 3000 7",
		"sum 0 8192",
		"fill 8191 1 255",
		"sum 8191 1",
		"fill 0 0 1",
		"sum 0 0",
		"use 1",
		"fill 1 2 69",
		"sum 0 4",
	}, "\n"))
	b := m.Bytes()
	if !bytes.Equal(b[10*512:15*512], bytes.Repeat([]byte{171}, 5*512)) || b[15*512] != 0 || b[10*512-1] != 0 {
		t.Error("fill 10 5 171 wrote the wrong sectors")
	}
	want(t, got,
		"fill: ok",
		"sum: "+sha(bytes.Repeat([]byte{171}, 5*512)),
		"sum: "+sha(make([]byte, 3*512)),
		"fill: ok",
		// sum 0 8192 ran before fill 8191 1 255 changed the last sector.
		"sum: "+sha(append(append([]byte{}, b[:8191*512]...), make([]byte, 512)...)),
		"fill: ok",
		"sum: "+sha(bytes.Repeat([]byte{255}, 512)),
		"fill: ok",
		"sum: "+sha(nil),
		"use: disk=1",
		"fill: ok",
		"sum: "+sha(append(append(make([]byte, 4096), bytes.Repeat([]byte{69}, 2*4096)...), make([]byte, 4096)...)),
	)
	if !bytes.Equal(b[100*512:3100*512], bytes.Repeat([]byte{7}, 3000*512)) {
		t.Error("fill 100 3000 7 wrote the wrong bytes")
	}
}

func TestReadOnly(t *testing.T) {
	ro := block.NewMem(block.Info{SectorSize: 512, Sectors: 8192})
	got, _ := run(t, []Disk{mkdisk(ro)}, "fill 0 1 1\nsum 0 1\nswaptest 1M\nswapstat\n")
	want(t, got,
		"fill: error: block: write sector 0: device is read-only",
		"sum: "+sha(make([]byte, 512)),
		"~swaptest: error: .*read-only.*",
		"~swapstat: error: .*read-only.*",
	)
}

// failing fails requests on sectors in [bad, bad+n) with ErrIO, and can
// corrupt reads instead.
type failing struct {
	block.Device
	bad, n  int64
	corrupt bool
}

func (f *failing) hit(sector int64, bufs [][]byte) bool {
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	n /= int64(f.Info().SectorSize)
	return sector < f.bad+f.n && f.bad < sector+n
}

func (f *failing) Read(sector int64, bufs ...[]byte) error {
	if err := f.Device.Read(sector, bufs...); err != nil {
		return err
	}
	if f.hit(sector, bufs) {
		if !f.corrupt {
			return block.Errorf("read", sector, block.ErrIO)
		}
		bufs[len(bufs)-1][0] ^= 1
	}
	return nil
}

func (f *failing) Write(sector int64, bufs ...[]byte) error {
	if f.hit(sector, bufs) && !f.corrupt {
		return block.Errorf("write", sector, block.ErrIO)
	}
	return f.Device.Write(sector, bufs...)
}

func TestIOErrors(t *testing.T) {
	f := &failing{Device: mem(8192, 512), bad: 0, n: 8192}
	got, _ := run(t, []Disk{mkdisk(f)}, "fill 5 1 1\nsum 7 2\nswaptest 1M\nswaptest 1M --force\nswapstat\n")
	want(t, got,
		"fill: error: block: write sector 5: I/O error",
		"sum: error: block: read sector 7: I/O error",
		// Looking for swap's space reads the disk; --force does not.
		"swaptest: error: swapfs: reading the partition table: block: read sector 0: I/O error",
		"~swaptest: FAIL append of 65536 bytes at offset [0-9]+: .*I/O error",
		"swapstat: total=4 free=4", // nothing leaked by the failed test
	)
}

func TestSwaptestDetectsCorruption(t *testing.T) {
	f := &failing{Device: mem(8192, 512), bad: 0, n: 8192, corrupt: true}
	got, _ := run(t, []Disk{mkdisk(f)}, "swaptest 300K 10K\nswapstat\n")
	want(t, got, "~swaptest: FAIL mismatch at offset [0-9]+ \\(seed [0-9]+\\): got 0x[0-9a-f]{2}, want 0x[0-9a-f]{2}", "swapstat: total=4 free=4")
}

// swappedBlocks reads each 1 MiB block of the disk from its neighbour
// (blocks 0 and 1 trade places, 2 and 3, …), as a read-ahead granule
// served for the wrong offset would: every byte read is one the test
// wrote, only from the wrong place.
type swappedBlocks struct{ block.Device }

func (s swappedBlocks) Read(sector int64, bufs ...[]byte) error {
	for _, b := range bufs {
		for off := 0; off < len(b); off += 512 {
			if err := s.Device.Read(sector^2048, b[off:off+512]); err != nil {
				return err
			}
			sector++
		}
	}
	return nil
}

// TestSwaptestMisplacedBlocks: data read back from the wrong place
// fails swaptest, though every byte of it is the test's own.
func TestSwaptestMisplacedBlocks(t *testing.T) {
	got, _ := run(t, []Disk{mkdisk(swappedBlocks{mem(16384, 512)}), mkdisk(mem(16384, 512))},
		"swaptest 4M\nuse 1\nswaptest 4M\n")
	want(t, got,
		"~swaptest: FAIL mismatch at offset [0-9]+ \\(seed [0-9]+\\): got 0x[0-9a-f]{2}, want 0x[0-9a-f]{2}",
		"use: disk=1",
		"~"+fmt.Sprintf(passRE, 4<<20, 64<<10, false))
}

func TestFillPattern(t *testing.T) {
	// The README's formula, a byte at a time.
	ref := func(seed uint64, o int64) byte { return byte((seed ^ uint64(o/8)) * patternMul >> (8 * (o % 8))) }
	const seed = 0x0123456789abcdef
	for _, c := range []struct{ off, n int64 }{{0, 64}, {3, 1}, {5, 20}, {1 << 20, 4096}, {7, 9}, {8, 7}} {
		p := make([]byte, c.n)
		fillPattern(p, seed, c.off)
		for i, v := range p {
			if w := ref(seed, c.off+int64(i)); v != w {
				t.Fatalf("offset %d: %#x, want %#x", c.off+int64(i), v, w)
			}
		}
	}
	a, b := make([]byte, 512), make([]byte, 512)
	fillPattern(a, seed, 0)
	fillPattern(b, seed, 512)
	if bytes.Equal(a, b) {
		t.Error("two sectors of one run alike")
	}
	fillPattern(b, seed+1, 0)
	if bytes.Equal(a, b) {
		t.Error("two runs' first sectors alike")
	}
}

func TestParseErrors(t *testing.T) {
	got, code := run(t, []Disk{mkdisk(mem(4096, 512))}, strings.Join([]string{
		"frob 1",
		"fill 1 2",
		"fill x 1 2",
		"fill 0 1 256",
		"fill 0 -1 1",
		"fill 4095 2 1",
		"sum 99999999999999999999 1",
		"sum 1",
		"use",
		"use 1",
		"use 0x0",
		"info 1",
		"swaptest",
		"swaptest 0",
		"swaptest 1Q",
		"swaptest 1M 0",
		"swaptest 1M 17M",
		"swaptest 1M --bogus",
		"swaptest 1M --encrypt --encrypt",
		"swaptest 1M 1K 2K",
		"bench --size",
		"bench --size 0",
		"bench nope",
		"bench --rounds 0",
		"bench --rounds x",
		"bench --rounds 1001",
		"sleep",
		"sleep 1s",
		"clock now",
		"exit 256",
		"exit 1 2",
		"",
		"   ",
		"# a comment",
		"use 0",
	}, "\n"))
	want(t, got,
		"frob: error: unknown command (try help)",
		"fill: error: usage: fill LBA COUNT BYTE [--jobs N]",
		`fill: error: LBA "x": not a decimal number`,
		"fill: error: BYTE 256: out of range (max 255)",
		`fill: error: COUNT "-1": not a decimal number`,
		"fill: error: block: write sector 4095: sector out of range",
		"sum: error: LBA 99999999999999999999: out of range (max 9223372036854775807)",
		"sum: error: usage: sum LBA COUNT",
		"use: error: usage: use N|NpK",
		"use: error: disk 1: out of range (1 disks: 0 to 0)",
		`use: error: disk "0x0": not a decimal number`,
		"info: error: usage: info",
		"swaptest: error: usage: swaptest SIZE [CHUNK] [--encrypt] [--weak-entropy] [--force]",
		"swaptest: error: SIZE 0: out of range",
		`swaptest: error: SIZE "1Q": not a size (decimal, optional K, M or G)`,
		"swaptest: error: CHUNK 0: out of range (1 to 16777216)",
		"swaptest: error: CHUNK 17825792: out of range (1 to 16777216)",
		"swaptest: error: unknown option --bogus (usage: swaptest SIZE [CHUNK] [--encrypt] [--weak-entropy] [--force])",
		"swaptest: error: --encrypt given twice (usage: swaptest SIZE [CHUNK] [--encrypt] [--weak-entropy] [--force])",
		"swaptest: error: usage: swaptest SIZE [CHUNK] [--encrypt] [--weak-entropy] [--force]",
		"bench: error: --size needs a value (usage: bench [--size SIZE] [--ms MS] [--rounds N] [--weak-entropy] [WORKLOAD...])",
		"bench: error: --size 0: out of range",
		`bench: error: unknown workload "nope"`,
		"bench: error: --rounds 0: out of range",
		`bench: error: --rounds "x": not a decimal number`,
		"bench: error: --rounds 1001: out of range (max 1000)",
		"sleep: error: usage: sleep MS",
		`sleep: error: MS "1s": not a decimal number`,
		"clock: error: usage: clock",
		"exit: error: status 256: out of range (max 255)",
		"exit: error: usage: exit [N]",
		"use: disk=0",
	)
	if code != 0 {
		t.Errorf("status %d, want 0", code)
	}
}

func TestNoDisks(t *testing.T) {
	got, _ := run(t, nil, "info\nfill 0 1 1\nsum 0 1\nselftest\nswaptest 1M\nswapstat\nbench\nuse 0\n")
	want(t, got,
		"info: error: no disks",
		"fill: error: no disks",
		"sum: error: no disks",
		"selftest: error: no disks",
		"swaptest: error: no disks",
		"swapstat: error: no disks",
		"bench: error: no disks",
		"use: error: disk 0: out of range (no disks)",
	)
}

func TestExit(t *testing.T) {
	for script, code := range map[string]int{
		"exit 3\ninfo\n": 3,
		"exit\nexit 4\n": 0,
		"exit 255":       255, // no final newline
		"sleep 1\n":      0,   // end of input
		"":               0,
	} {
		out := &lines{t: t}
		if got := Run(Config{In: strings.NewReader(script), Out: out}); got != code {
			t.Errorf("%q: status %d, want %d", script, got, code)
		}
		for _, l := range out.l[1:] {
			if strings.HasPrefix(l, "info:") {
				t.Errorf("%q: ran a command after exit: %s", script, l)
			}
		}
	}
}

func TestInputErrors(t *testing.T) {
	out := &lines{t: t}
	code := Run(Config{In: iotest.ErrReader(fmt.Errorf("uart\noverrun")), Out: out})
	want(t, out.l[1:], "shell: error: reading input: uart; overrun")
	if code != 1 {
		t.Errorf("status %d after a read error, want 1", code)
	}

	// Carriage returns end lines, as a terminal on a serial port sends them;
	// an overlong line is refused and the shell carries on.
	got, _ := run(t, []Disk{mkdisk(mem(64, 512))}, "use 0\rsum 0 1\r\n"+strings.Repeat("x", 5000)+"\nsleep 0\n")
	want(t, got, "use: disk=0", "sum: "+sha(make([]byte, 512)), "shell: error: line longer than 4096 bytes ignored", "sleep: done")
}

func TestSleep(t *testing.T) {
	start := time.Now()
	got, _ := run(t, nil, "sleep 30\n")
	want(t, got, "sleep: done")
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("sleep 30 took %v", d)
	}
}

func TestHelp(t *testing.T) {
	got, _ := run(t, nil, "help\n")
	text := strings.Join(got, "\n")
	for _, c := range commands {
		if !strings.Contains(text, "help: "+c.name) {
			t.Errorf("help does not list %s", c.name)
		}
	}
	for _, l := range got {
		if !strings.HasPrefix(l, "help: ") {
			t.Errorf("help line %q", l)
		}
	}
	want(t, got[len(got)-3:len(got)-2], "help: numbers are decimal; SIZE, CHUNK take K, M, G (KiB, MiB, GiB)")
}

func TestSelftest(t *testing.T) {
	lost := &lostWrites{Device: mem(64, 512)}
	ro := block.NewMem(block.Info{SectorSize: 512, Sectors: 64})
	got, _ := run(t, []Disk{mkdisk(mem(64, 512)), mkdisk(ro), mkdisk(lost)}, "selftest\nuse 1\nselftest\nuse 2\nselftest\n")
	want(t, got, "selftest: PASS", "use: disk=1", "selftest: PASS", "use: disk=2", "~selftest: FAIL blocktest: [0-9]+ conformance check.*")
}

// lostWrites says yes to writes and keeps nothing.
type lostWrites struct{ block.Device }

func (lostWrites) Write(int64, ...[]byte) error { return nil }

const passRE = `swaptest: PASS size=%d chunk=%d encrypt=%t write_mib_s=[0-9]+\.[0-9]{2} read_mib_s=[0-9]+\.[0-9]{2} peak_heap_mib=[0-9]+\.[0-9] seed=[0-9]+`

func TestSwaptest(t *testing.T) {
	// 8 MiB of 512-byte sectors: eight 1 MiB blocks.
	got, _ := run(t, []Disk{mkdisk(mem(16384, 512)), mkdisk(mem(2048, 4096))}, strings.Join([]string{
		"swapstat",
		"swaptest 3M",
		"swaptest 1000000 4097",
		"swaptest 1",
		"swaptest 7 100",
		"swaptest 100K 1K --encrypt",
		"swaptest --encrypt 2M 1M",
		"swapstat",
		"swaptest 9M",
		"swapstat",
		"use 1",
		"swaptest 8M 333K",
		"swapstat",
	}, "\n"))
	want(t, got,
		"swapstat: total=8 free=8",
		"~"+fmt.Sprintf(passRE, 3<<20, 64<<10, false),
		"~"+fmt.Sprintf(passRE, 1000000, 4097, false),
		"~"+fmt.Sprintf(passRE, 1, 1, false),
		"~"+fmt.Sprintf(passRE, 7, 7, false),
		"~"+fmt.Sprintf(passRE, 100<<10, 1<<10, true),
		"~"+fmt.Sprintf(passRE, 2<<20, 1<<20, true),
		"swapstat: total=8 free=8",
		"~swaptest: FAIL append of 65536 bytes at offset 8388608: .*out of space",
		"swapstat: total=8 free=8",
		"use: disk=1",
		"~"+fmt.Sprintf(passRE, 8<<20, 333<<10, false),
		"swapstat: total=1 free=1",
	)
}

func TestSwaptestProgress(t *testing.T) {
	defer func(v int64) { progressEvery = v }(progressEvery)
	progressEvery = 1 << 20
	got, _ := run(t, []Disk{mkdisk(mem(16384, 512))}, "swaptest 3M 512K\n")
	h := `heap_mib=[0-9]+\.[0-9]`
	want(t, got,
		"~swaptest: progress phase=write done_mib=1 size_mib=3 "+h,
		"~swaptest: progress phase=write done_mib=2 size_mib=3 "+h,
		"~swaptest: progress phase=read done_mib=1 size_mib=3 "+h,
		"~swaptest: progress phase=read done_mib=2 size_mib=3 "+h,
		"~"+fmt.Sprintf(passRE, 3<<20, 512<<10, false),
	)
}

// TestSwapModes: the one manager of a disk changes mode only while it has
// no block in use.
func TestSwapModes(t *testing.T) {
	s := &shell{out: &lines{t: t}}
	d := &disk{Disk: mkdisk(mem(16384, 512)), active: -1}
	plain, err := s.swapFS(d, false)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.swapFS(d, false); again != plain {
		t.Fatal("a second plain request made a second manager")
	}
	h := plain.Empty()
	if err := h.Append(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.swapFS(d, true); err == nil || err.Error() != "disk 0's plain swap manager has 1 blocks in use: cannot switch to encrypted" {
		t.Fatalf("switching with a block in use: %v", err)
	}
	if err := h.Free(); err != nil {
		t.Fatal(err)
	}
	enc, err := s.swapFS(d, true)
	if err != nil || enc == plain || d.active != 1 {
		t.Fatalf("switching with every block free: %v", err)
	}
	h = enc.Empty()
	if err := h.Append(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.swapFS(d, false); err == nil {
		t.Fatal("switched back to plain with an encrypted block in use")
	}
	h.Free()
	if back, err := s.swapFS(d, false); err != nil || back != plain {
		t.Fatalf("switching back made a new manager or failed: %v", err)
	}
}

// counting counts requests, to show that nothing touches a disk before a
// command needs it.
type counting struct {
	block.Device
	n atomic.Int64
}

func (c *counting) Read(s int64, b ...[]byte) error  { c.n.Add(1); return c.Device.Read(s, b...) }
func (c *counting) Write(s int64, b ...[]byte) error { c.n.Add(1); return c.Device.Write(s, b...) }

func TestNoIOUntilNeeded(t *testing.T) {
	c := &counting{Device: mem(16384, 512)}
	// info reads partition tables and swapstat looks for swap's space
	// (both tested in part_test.go); these read nothing.
	got, _ := run(t, []Disk{mkdisk(c)}, "help\nuse 0\nsleep 0\nfill 0 0 1\n")
	if n := c.n.Load(); n != 0 {
		t.Errorf("%d device requests, want none", n)
	}
	if len(got) == 0 || got[len(got)-1] != "fill: ok" {
		t.Errorf("last line %q", got[len(got)-1])
	}
}

func TestBench(t *testing.T) {
	got, _ := run(t, []Disk{mkdisk(mem(32768, 512))}, "bench --size 1M --ms 500\nbench seed-read randread-4K-qd16 --ms=100\nswapstat\n")
	var exp []string
	// The random I/O workloads add their latency percentiles.
	lat := `( p50_us=[0-9]+\.[0-9] p99_us=[0-9]+\.[0-9] ops=[0-9]+)?`
	for _, w := range workload.All() {
		exp = append(exp, `~bench: `+w.Name+` mib_s=[0-9]+\.[0-9]{2} iops=[0-9]+\.[0-9]`+lat)
	}
	exp = append(exp, `~bench: seed-read mib_s=[0-9]+\.[0-9]{2} iops=[0-9]+\.[0-9]`, `~bench: randread-4K-qd16 mib_s=[0-9]+\.[0-9]{2} iops=[0-9]+\.[0-9]`+lat)
	exp = append(exp, "swapstat: total=16 free=16")
	want(t, got, exp...)

	// On a read-only disk the writing workloads fail and the rest run.
	ro := block.NewMem(block.Info{SectorSize: 512, Sectors: 32768})
	got, _ = run(t, []Disk{mkdisk(ro)}, "bench --size 1M seqwrite-1M seqread-1M swap-append-64K\n")
	want(t, got,
		"bench: error: seqwrite-1M: block: write sector 0: device is read-only",
		`~bench: seqread-1M mib_s=[0-9]+\.[0-9]{2} iops=[0-9]+\.[0-9]`,
		"~bench: error: swap-append-64K: .*read-only")

	// --rounds repeats the list in its order, each line saying its round.
	got, _ = run(t, []Disk{mkdisk(mem(32768, 512))}, "bench --rounds 2 --size 1M --ms 100 seqwrite-1M swap-append-64K copy-64K\n")
	exp = exp[:0]
	for r := 1; r <= 2; r++ {
		for _, w := range []string{"seqwrite-1M", "swap-append-64K", "copy-64K"} {
			exp = append(exp, fmt.Sprintf(`~bench: %s mib_s=[0-9]+\.[0-9]{2} iops=[0-9]+\.[0-9] round=%d`, w, r))
		}
	}
	want(t, got, exp...)
}

func TestPiecesCoverEveryByteOnce(t *testing.T) {
	for _, tc := range [][2]int64{{1, 1}, {7, 7}, {10, 3}, {1000, 1}, {1000, 64}, {65536, 4096}, {100003, 97}, {5, 100}} {
		for range 20 {
			size, chunk := tc[0], min(tc[1], tc[0])
			p := newPieces(size, chunk)
			seen := make([]int, size)
			for i := range p.n {
				off, n := p.piece(i)
				if n <= 0 || n > chunk || off < 0 || off+n > size {
					t.Fatalf("size %d chunk %d: piece %d is [%d, %d)", size, chunk, i, off, off+n)
				}
				for j := off; j < off+n; j++ {
					seen[j]++
				}
			}
			for j, c := range seen {
				if c != 1 {
					t.Fatalf("size %d chunk %d phase %d: byte %d read %d times", size, chunk, p.phase, j, c)
				}
			}
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, exp := range map[string]int64{"0": 0, "1": 1, "4097": 4097, "1K": 1024, "64k": 65536, "1M": 1 << 20, "1G": 1 << 30, "8589934591G": 8589934591 << 30} {
		if got, err := parseSize("SIZE", in); err != nil || got != exp {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, exp)
		}
	}
	for _, in := range []string{"", "K", "-1", "+1", "1.5M", "1T", "1KB", "8589934592G", " 1", "0x10"} {
		if got, err := parseSize("SIZE", in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// patternDisk stores nothing: writes vanish and every read returns
// swaptest's pattern for seed, with the disk's byte offsets for file
// offsets (a fresh swap manager puts a file's blocks in order from block
// 0 on), so a large swaptest runs without the disk's bytes on the heap.
type patternDisk struct {
	info block.Info
	seed uint64
}

func (d patternDisk) Info() block.Info { return d.info }
func (d patternDisk) Read(sector int64, bufs ...[]byte) error {
	if _, err := block.CheckRequest(d.info, "read", sector, bufs); err != nil {
		return err
	}
	off := sector * int64(d.info.SectorSize)
	for _, b := range bufs {
		fillPattern(b, d.seed, off)
		off += int64(len(b))
	}
	return nil
}
func (d patternDisk) Write(sector int64, bufs ...[]byte) error {
	_, err := block.CheckRequest(d.info, "write", sector, bufs)
	return err
}
func (patternDisk) Disconnect() error { return nil }

// TestSwaptestStreams: swaptest holds chunks, not the file: 256 MiB go
// through with a peak heap of a few MiB.
func TestSwaptestStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 512 MiB through memory")
	}
	const seed = 12345
	defer func(f func() uint64) { newSeed = f }(newSeed)
	newSeed = func() uint64 { return seed }
	d := patternDisk{block.Info{ReadWrite: true, SectorSize: 512, Sectors: 1 << 21}, seed} // 1 GiB
	// Earlier tests' disks may still be live, held by swap handles'
	// cleanups that have not run yet: measure from what is live now.
	runtime.GC()
	sample := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(sample)
	base := float64(sample[0].Value.Uint64()) / mib
	got, _ := run(t, []Disk{mkdisk(d)}, "swaptest 256M\n")
	p := `~swaptest: progress phase=%s done_mib=%d size_mib=256 heap_mib=[0-9]+\.[0-9]`
	want(t, got,
		fmt.Sprintf(p, "write", 64), fmt.Sprintf(p, "write", 128), fmt.Sprintf(p, "write", 192),
		fmt.Sprintf(p, "read", 64), fmt.Sprintf(p, "read", 128), fmt.Sprintf(p, "read", 192),
		"~"+fmt.Sprintf(passRE, 256<<20, 64<<10, false))
	if len(got) == 0 {
		return
	}
	last := got[len(got)-1]
	var peak float64
	fmt.Sscanf(last[strings.Index(last, "peak_heap_mib=")+len("peak_heap_mib="):], "%g", &peak)
	if peak <= 0 || peak-base > 16 {
		t.Errorf("peak heap %v MiB (%.1f MiB live before) for a 256 MiB swaptest: %s", peak, base, last)
	}
	t.Log(last)
}

// TestFillSumAllocs: fill and sum allocate about the same for 1 MiB and
// 16 MiB, so their per-request loop allocates nothing.
func TestFillSumAllocs(t *testing.T) {
	s := &shell{out: io.Discard} // a recorder's growing slice would count
	s.disks = []*disk{{Disk: mkdisk(mem(32768, 512)), active: -1}}
	for _, cmd := range []string{"fill 0 %d 9", "sum 0 %d"} {
		allocs := func(sectors int) float64 {
			line := fmt.Sprintf(cmd, sectors)
			return testing.AllocsPerRun(3, func() { s.exec(line) })
		}
		// 1 request against 16: one allocation per request would add 15.
		// Allow a little for the runtime's own background allocations,
		// seen now and then during the longer run.
		if small, big := allocs(2048), allocs(32768); big > small+3 {
			t.Errorf("%s: %v allocations for 1 MiB, %v for 16 MiB", cmd, small, big)
		}
	}
}

// TestSwaptestEncryptHidesPattern is the host-side scan of
// qemu/encrypt_test.go on a Mem: after `swaptest --encrypt` no 64-byte
// piece of the run's pattern is on the disk; after a plain swaptest
// there is.
func TestSwaptestEncryptHidesPattern(t *testing.T) {
	const seed = 777
	defer func(f func() uint64) { newSeed = f }(newSeed)
	newSeed = func() uint64 { return seed }
	piece := make([]byte, 64)
	fillPattern(piece, seed, 1<<20+4096)
	m := mem(16384, 512)
	got, _ := run(t, []Disk{mkdisk(m)}, "swaptest 2M --encrypt\n")
	want(t, got, "~"+fmt.Sprintf(passRE, 2<<20, 64<<10, true))
	if bytes.Contains(m.Bytes(), piece) {
		t.Error("encrypted swaptest left its pattern on the disk")
	}
	got, _ = run(t, []Disk{mkdisk(m)}, "swaptest 2M\n")
	want(t, got, "~"+fmt.Sprintf(passRE, 2<<20, 64<<10, false))
	if !bytes.Contains(m.Bytes(), piece) {
		t.Error("plain swaptest left no piece of its pattern: the scan would prove nothing")
	}
}

// A board's own command runs on the current disk and is listed by help.
func TestBoardCommand(t *testing.T) {
	d0, d1 := mkdisk(mem(8, 512)), mkdisk(mem(16, 512))
	out := &lines{t: t}
	Run(Config{In: strings.NewReader("probe a b\nuse 1\nprobe\nhelp\n"), Out: out, Disks: []Disk{d0, d1},
		Commands: []Command{{Name: "probe", Usage: "[ARG...]", Help: "a board's command", Run: func(d *Disk, args []string, printf func(string, ...any)) {
			printf("probe: sectors=%d args=%q", d.Dev.Info().Sectors, args)
		}}}})
	got := out.l[3:]
	want(t, got[:3], `probe: sectors=8 args=["a" "b"]`, "use: disk=1", `probe: sectors=16 args=[]`)
	if last := got[len(got)-4]; last != "help: probe [ARG...] - a board's command" {
		t.Errorf("help lists %q before its notes, want the board's command", last)
	}
}

// clock prints the monotonic time since the shell started, increasing,
// and at least as far apart as a sleep between two of them.
func TestClock(t *testing.T) {
	got, _ := run(t, nil, "clock\nsleep 20\nclock\n")
	if len(got) < 3 {
		t.Fatalf("output %q", got)
	}
	var ns [2]int64
	for i, l := range []string{got[len(got)-3], got[len(got)-1]} {
		if _, err := fmt.Sscanf(l, "clock: ns=%d", &ns[i]); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
	}
	if ns[0] < 0 || ns[1]-ns[0] < int64(20*time.Millisecond) {
		t.Errorf("clock %d then %d around sleep 20", ns[0], ns[1])
	}
}

// fakeIRQ is a board's wired interrupt; err fails the switch.
type fakeIRQ struct {
	line int
	on   bool
	err  error
}

func (f *fakeIRQ) Line() int        { return f.line }
func (f *fakeIRQ) Interrupts() bool { return f.on }
func (f *fakeIRQ) UseInterrupts(on bool) error {
	if f.err != nil {
		return f.err
	}
	f.on = on
	return nil
}

// irq switches the current disk (a partition's too: its disk's) and
// says so; info follows; a disk without a wired interrupt refuses, as
// does a switch the board cannot make.
func TestIRQ(t *testing.T) {
	wired := &fakeIRQ{line: 33}
	broken := &fakeIRQ{line: 5, err: errors.New("no vector")}
	d0, d1, d2 := mkdisk(mem(4096, 512)), mkdisk(mem(4096, 512)), mkdisk(mem(4096, 512))
	d0.IRQ, d2.IRQ = wired, broken
	got, _ := run(t, []Disk{d0, d1, d2}, strings.Join([]string{
		"irq on", "info", "irq off", "irq", "irq maybe", "use 1", "irq on", "use 2", "irq on", "use 0", "irq on",
	}, "\n"))
	info := func(n int, irq string) string {
		return fmt.Sprintf("info: disk=%d transport=mmio version=modern sectors=4096 sector_size=512 ro=false features=SEG_MAX,BLK_SIZE,FLUSH,VERSION_1 irq=%s", n, irq)
	}
	want(t, got,
		"irq: disk=0 mode=interrupt",
		info(0, "33"), info(1, "poll"), info(2, "poll"),
		"irq: disk=0 mode=poll",
		"irq: error: usage: irq on|off",
		"irq: error: usage: irq on|off",
		"use: disk=1",
		"irq: error: disk 1: the board wires no interrupt to it; it polls",
		"use: disk=2",
		"irq: error: disk 2: no vector",
		"use: disk=0",
		"irq: disk=0 mode=interrupt",
	)
}
