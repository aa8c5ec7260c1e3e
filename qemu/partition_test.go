package qemu

// Partition boot tests: disks whose tables sgdisk, sfdisk and fdisk -b
// 4096 made on the host, booted with the hosted runtime and TamaGo over
// virtio-mmio and virtio-pci on amd64 and arm64. swaptest on the whole
// disk must use only its swap partition: everything outside that
// partition (tables, a data partition full of a known pattern) keeps its
// SHA-256. Disks that are not swap's are refused with an error line and
// left as they were.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/partition"
	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// partTarget is a target on one machine.
type partTarget struct {
	target
	machine string
}

func (pt partTarget) String() string { return pt.target.String() + "-" + pt.machine }

func (pt partTarget) options() harness.Options {
	o := pt.target.options()
	o.Machine = pt.machine
	return o
}

var (
	hostedMMIO = partTarget{target{runtime: "hosted", arch: "amd64"}, harness.MachineMicrovm}
	hostedPCI  = partTarget{target{runtime: "hosted", arch: "amd64"}, harness.MachinePCI}
	tamagoMMIO = partTarget{target{runtime: "tamago", arch: "amd64"}, harness.MachineMicrovm}
	tamagoPCI  = partTarget{target{runtime: "tamago", arch: "amd64"}, harness.MachinePCI}
	tamagoVirt = partTarget{target{runtime: "tamago", arch: "arm64"}, "virt"}
	tamagoVPCI = partTarget{target{runtime: "tamago", arch: "arm64"}, harness.MachinePCI}
)

// forPartTargets runs body once per QEMU (forQEMUs) as a parallel
// subtest per target (qemu7.2/tamago-amd64-microvm), skipping where the
// target cannot run (no TamaGo compiler: "skipped: no TamaGo compiler").
func forPartTargets(t *testing.T, targets []partTarget, body func(t *testing.T, pt partTarget)) {
	forQEMUs(t, func(t *testing.T, q string) {
		for _, pt := range targets {
			pt.target.qemu = q
			t.Run(pt.String(), func(t *testing.T) {
				needTarget(t, pt.target)
				needTools(t, "sgdisk", "sfdisk", "fdisk")
				t.Parallel()
				body(t, pt)
			})
		}
	})
}

// needTools skips without the disk tools (a failure in CI, where
// qemu/setup installs them).
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/sbin/" + tool); err == nil {
				continue
			}
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found (qemu/setup installs it)", tool)
			}
			t.Skipf("skipped: %s not found (qemu/setup installs it)", tool)
		}
	}
}

func tool(t *testing.T, stdin string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/sbin:/usr/sbin")
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// fileDisk is a read-only block.Device over an image file, for reading
// its table on the host.
type fileDisk struct {
	f    *os.File
	info block.Info
}

func openFileDisk(t *testing.T, path string, ss int) *fileDisk {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	return &fileDisk{f, block.Info{SectorSize: ss, Sectors: st.Size() / int64(ss)}}
}

func (d *fileDisk) Info() block.Info { return d.info }
func (d *fileDisk) Read(s int64, bufs ...[]byte) error {
	if _, err := block.CheckRequest(d.info, "read", s, bufs); err != nil {
		return err
	}
	off := s * int64(d.info.SectorSize)
	for _, b := range bufs {
		if _, err := d.f.ReadAt(b, off); err != nil {
			return block.Errorf("read", s, block.ErrIO)
		}
		off += int64(len(b))
	}
	return nil
}
func (d *fileDisk) Write(s int64, bufs ...[]byte) error {
	return block.Errorf("write", s, block.ErrReadOnly)
}
func (d *fileDisk) Disconnect() error { return nil }

// partDisk is an image with a partition table and what the host knows of
// it.
type partDisk struct {
	path string
	ss   int64
	tab  *partition.Table
	swap partition.Entry
}

// newPartDisk makes an image of size bytes with a table: "gpt" (sgdisk),
// "gpt4k" (fdisk -b 4096) or "mbr" (sfdisk); partition 1 is 8 MiB of
// Linux data filled with a known pattern, partition 2 Linux swap to the
// end.
func newPartDisk(t *testing.T, kind string, size int64) *partDisk {
	t.Helper()
	p := filepath.Join(t.TempDir(), kind+".img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	ss := 512
	switch kind {
	case "gpt":
		tool(t, "", "sgdisk", "-n", "1:2048:+8M", "-t", "1:8300", "-n", "2:0:0", "-t", "2:8200", p)
	case "gpt4k":
		ss = 4096
		tool(t, "g\nn\n1\n256\n+8M\nn\n2\n\n\nt\n2\n19\nw\n", "fdisk", "-b", "4096", p)
	case "mbr":
		tool(t, "label: dos\nstart=2048, size=16384, type=83\nstart=18432, type=82\n", "sfdisk", "-q", p)
	}
	d := &partDisk{path: p, ss: int64(ss)}
	var err error
	if d.tab, err = partition.Read(openFileDisk(t, p, ss)); err != nil {
		t.Fatal(err)
	}
	var ok bool
	if d.swap, ok = d.tab.Swap(); !ok || len(d.tab.Partitions) != 2 {
		t.Fatalf("%s: table %+v", kind, d.tab.Partitions)
	}
	// The data partition: each byte from its offset.
	data := d.tab.Partitions[0]
	b := make([]byte, data.Sectors*d.ss)
	for i := range b {
		b[i] = byte(i/7 + i>>12)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteAt(b, data.Start*d.ss)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// hashes returns the SHA-256 of the image outside the swap partition and
// inside it.
func (d *partDisk) hashes(t *testing.T) (outside, inside string) {
	t.Helper()
	b, err := os.ReadFile(d.path)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := d.swap.Start*d.ss, (d.swap.Start+d.swap.Sectors)*d.ss
	o := sha256.New()
	o.Write(b[:lo])
	o.Write(b[hi:])
	i := sha256.Sum256(b[lo:hi])
	return hex.EncodeToString(o.Sum(nil)), hex.EncodeToString(i[:])
}

func (d *partDisk) partLines(disk int) []string {
	var l []string
	for _, e := range d.tab.Partitions {
		l = append(l, fmt.Sprintf("disk=%d index=%d type=%s start=%d sectors=%d", disk, e.Index, e.TypeName(), e.Start, e.Sectors))
	}
	return l
}

// fourK adds 4096-byte logical and physical blocks to every virtio-blk
// device of either transport.
var fourK = []string{
	"-global", "virtio-blk-device.logical_block_size=4096", "-global", "virtio-blk-device.physical_block_size=4096",
	"-global", "virtio-blk-pci.logical_block_size=4096", "-global", "virtio-blk-pci.physical_block_size=4096",
}

// swapOnPartition boots with d as the only disk, runs swaptest on the
// whole disk and checks that it went to the swap partition only.
func swapOnPartition(t *testing.T, pt partTarget, d *partDisk, extra []string, cmds ...string) guest {
	t.Helper()
	outBefore, inBefore := d.hashes(t)
	opts := pt.options()
	opts.Drives = []string{harness.DiskDrive(d.path)}
	opts.Extra = extra
	g := boot(t, opts, append([]string{"info", "swaptest 24M", "swapstat"}, append(cmds, "exit 0")...)...)
	if g.status != 0 {
		t.Errorf("exit status %d, want 0", g.status)
	}
	var part []string
	for _, l := range g.results("part") {
		if !strings.Contains(l, "backup") {
			part = append(part, l)
		}
	}
	if want := d.partLines(0); strings.Join(part, "\n") != strings.Join(want, "\n") {
		t.Errorf("part: lines %q, want %q", part, want)
	}
	space := fmt.Sprintf("disk=0 space=0p%d type=linux-swap start=%d sectors=%d", d.swap.Index, d.swap.Start, d.swap.Sectors)
	if s := g.results("swap"); len(s) == 0 || s[len(s)-1] != space {
		t.Errorf("swap: lines %q, want the last %q", s, space)
	}
	if r := g.results("swaptest"); len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=25165824 ") {
		t.Errorf("swaptest printed %q, want PASS", r)
	}
	outAfter, inAfter := d.hashes(t)
	if outAfter != outBefore {
		t.Errorf("the image outside the swap partition changed: sha256 %s before, %s after", outBefore, outAfter)
	} else {
		t.Logf("outside the swap partition: sha256 %s before and after", outAfter)
	}
	if inAfter == inBefore {
		t.Error("swaptest wrote nothing into the swap partition")
	}
	return g
}

// TestPartitionGPT: a GPT disk from sgdisk, data and swap partitions, on
// both runtimes, both transports, amd64 and arm64.
func TestPartitionGPT(t *testing.T) {
	forPartTargets(t, []partTarget{hostedMMIO, hostedPCI, tamagoMMIO, tamagoPCI, tamagoVirt, tamagoVPCI}, func(t *testing.T, pt partTarget) {
		swapOnPartition(t, pt, newPartDisk(t, "gpt", 64<<20), nil)
	})
}

// TestPartitionGPT4K: the same with 4096-byte logical blocks, the table
// from fdisk -b 4096.
func TestPartitionGPT4K(t *testing.T) {
	forPartTargets(t, []partTarget{hostedMMIO, tamagoPCI, tamagoVirt}, func(t *testing.T, pt partTarget) {
		g := swapOnPartition(t, pt, newPartDisk(t, "gpt4k", 64<<20), fourK)
		if i := g.results("info"); len(i) == 0 || !strings.Contains(i[0], " sector_size=4096 ") {
			t.Errorf("info %q, want 4096-byte sectors", i)
		}
	})
}

// TestPartitionMBR: an MBR disk from sfdisk; fill through use 0p1 lands
// at the partition's start + LBA.
func TestPartitionMBR(t *testing.T) {
	forPartTargets(t, []partTarget{hostedMMIO, tamagoMMIO}, func(t *testing.T, pt partTarget) {
		d := newPartDisk(t, "mbr", 64<<20)
		g := swapOnPartition(t, pt, d, nil, "use 0p2", "fill 5 3 165", "sum 5 3")
		g.want(t, "use", "disk=0p2")
		g.want(t, "fill", "ok")
		g.want(t, "sum", sumOf(165, 3*512))
		if got := hashImage(t, d.path, 512, d.swap.Start+5, 3); got != sumOf(165, 3*512) {
			t.Errorf("fill 5 3 through use 0p2: image sectors %d+3 hash %s", d.swap.Start+5, got)
		}
	})
}

// TestPartitionBackupGPT: the primary GPT header is corrupt; the backup
// is used, the console says so, and nothing outside the swap partition
// changes (the primary is not repaired).
func TestPartitionBackupGPT(t *testing.T) {
	forPartTargets(t, []partTarget{hostedMMIO, tamagoVirt}, func(t *testing.T, pt partTarget) {
		d := newPartDisk(t, "gpt", 64<<20)
		corrupt(t, d.path, 512+40) // first usable LBA: the header's CRC no longer matches
		g := swapOnPartition(t, pt, d, nil)
		if p := g.results("part"); len(p) == 0 || !strings.Contains(p[0], "backup") {
			t.Errorf("part: lines %q, want a line about the backup GPT first", p)
		}
		if s := g.results("swap"); len(s) == 0 || !strings.Contains(s[0], "backup") {
			t.Errorf("swap: lines %q, want one about the backup GPT", s)
		}
	})
}

func corrupt(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	f.ReadAt(b, off)
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// refusedDisks makes the disks swap must refuse, each with the text its
// error must contain.
func refusedDisks(t *testing.T) (paths, texts []string) {
	needTools(t, "mke2fs", "mkimage")
	add := func(p, text string) { paths, texts = append(paths, p), append(texts, text) }
	dir := t.TempDir()
	// Both GPT copies corrupt.
	d := newPartDisk(t, "gpt", 32<<20)
	st, _ := os.Stat(d.path)
	corrupt(t, d.path, 512+40)
	corrupt(t, d.path, st.Size()-512+40)
	add(d.path, "gpt primary")
	// A GPT without a swap partition.
	p := filepath.Join(dir, "noswap.img")
	os.WriteFile(p, nil, 0o644)
	os.Truncate(p, 32<<20)
	tool(t, "", "sgdisk", "-n", "1:2048:0", "-t", "1:8300", p)
	add(p, "a GPT partition table with 1 partitions and no Linux swap partition")
	// An MBR whose swap entry runs past the end: sfdisk on a larger
	// image, then the image cut short.
	p = filepath.Join(dir, "pastend.img")
	os.WriteFile(p, nil, 0o644)
	os.Truncate(p, 64<<20)
	tool(t, "label: dos\nstart=2048, size=8192, type=83\nstart=10240, type=82\n", "sfdisk", "-q", p)
	os.Truncate(p, 32<<20)
	add(p, "mbr entry 2")
	// The USB armory's boot image, whole disk: mkimage's IVT at 1024.
	p = filepath.Join(dir, "imx.img")
	payload := filepath.Join(dir, "payload.bin")
	os.WriteFile(payload, bytes.Repeat([]byte{0xa5}, 64<<10), 0o644)
	cfg := filepath.Join(dir, "imximage.cfg")
	os.WriteFile(cfg, []byte("IMAGE_VERSION 2\nBOOT_FROM sd\nDATA 4 0x020c4068 0xffffffff\n"), 0o644)
	tool(t, "", "mkimage", "-n", cfg, "-T", "imximage", "-e", "0x80010000", "-d", payload, filepath.Join(dir, "x.imx"))
	imx, err := os.ReadFile(filepath.Join(dir, "x.imx"))
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, 32<<20)
	copy(img[1024:], imx)
	os.WriteFile(p, img, 0o644)
	add(p, "an i.MX boot image (IVT at byte 1024)")
	// ext4 from mke2fs, whole disk.
	p = filepath.Join(dir, "ext4.img")
	os.WriteFile(p, nil, 0o644)
	os.Truncate(p, 32<<20)
	tool(t, "", "mke2fs", "-q", "-F", "-t", "ext4", p)
	add(p, "an ext2/3/4 file system")
	return paths, texts
}

// TestPartitionRefusals: five disks swap must not touch, in one boot;
// each swaptest prints its error and each image keeps its SHA-256.
func TestPartitionRefusals(t *testing.T) {
	forPartTargets(t, []partTarget{hostedMMIO, tamagoMMIO}, func(t *testing.T, pt partTarget) {
		paths, texts := refusedDisks(t)
		var before []string
		opts := pt.options()
		var cmds []string
		for i, p := range paths {
			before = append(before, hashImage(t, p, 512, 0, fileSectors(t, p)))
			opts.Drives = append(opts.Drives, harness.DiskDrive(p))
			cmds = append(cmds, fmt.Sprintf("use %d", i), "swaptest 8M")
		}
		g := boot(t, opts, append(cmds, "exit 0")...)
		r := g.results("swaptest")
		if len(r) != len(paths) {
			t.Fatalf("swaptest printed %q, want %d errors", r, len(paths))
		}
		for i := range paths {
			if !strings.HasPrefix(r[i], "error: swapfs: not swap space: ") || !strings.Contains(r[i], texts[i]) {
				t.Errorf("disk %d: swaptest: %s; want an error saying %q", i, r[i], texts[i])
			} else {
				t.Logf("disk %d: swaptest: %s", i, r[i])
			}
			if after := hashImage(t, paths[i], 512, 0, fileSectors(t, paths[i])); after != before[i] {
				t.Errorf("disk %d (%s) changed", i, filepath.Base(paths[i]))
			}
		}
	})
}

func fileSectors(t *testing.T, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size() / 512
}

// TestPartitionSwapAfterSwap: a blank disk is used whole, and still is
// in the next boot, after swaptest filled it with its pattern (which
// carries no known signature).
func TestPartitionSwapAfterSwap(t *testing.T) {
	forPartTargets(t, []partTarget{hostedMMIO}, func(t *testing.T, pt partTarget) {
		img := newImage(t, "blank.img", 64<<20, false)
		opts := pt.options()
		opts.Drives = []string{harness.DiskDrive(img)}
		for boot1 := range 2 {
			g := boot(t, opts, "swaptest 32M", "exit 0")
			if r := g.results("swaptest"); len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=33554432 ") {
				t.Errorf("boot %d: swaptest printed %q, want PASS on the whole disk", boot1+1, r)
			}
			if s := g.results("swap"); len(s) != 0 {
				t.Errorf("boot %d: swap: %q, want none (the whole disk)", boot1+1, s)
			}
		}
		if hashImage(t, img, 512, 0, 8) == sumOf(0, 8*512) {
			t.Error("swaptest left the disk's first sectors zero")
		}
	})
}
