package swapfs_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/partition"
	"github.com/tamaswap/tamaswap/drivers/partition/partitiontest"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

// tableDisk loads a table sfdisk, sgdisk or fdisk made.
func tableDisk(t *testing.T, name string) *block.Mem { return partitiontest.Disk(t, name) }

func signature(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "signatures", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func memDisk(sectors int64) *block.Mem {
	return block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: sectors})
}

func TestFindSpaceBlankDisk(t *testing.T) {
	m := memDisk(4096)
	dev, err := swapfs.FindSpace(m)
	if err != nil || dev != block.Device(m) {
		t.Errorf("blank disk: %v, %v; want the disk whole", dev, err)
	}
}

func TestFindSpacePartition(t *testing.T) {
	for _, c := range []struct {
		name           string
		index          int
		start, sectors int64
	}{
		{"gpt.sparse", 2, 8192, 8159},
		{"gpt4k.sparse", 2, 1280, 2560},
		{"mbr.sparse", 2, 6144, 2048},
	} {
		m := tableDisk(t, c.name)
		dev, err := swapfs.FindSpace(m)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		p, ok := dev.(*partition.Device)
		if !ok {
			t.Fatalf("%s: got %T, want a partition", c.name, dev)
		}
		if e := p.Entry(); e.Index != c.index || e.Start != c.start || e.Sectors != c.sectors || p.FromBackup() {
			t.Errorf("%s: partition %+v backup=%v, want %d at %d+%d", c.name, e, p.FromBackup(), c.index, c.start, c.sectors)
		}
		// A swap manager on it writes inside the partition only.
		before := append([]byte(nil), m.Bytes()...)
		fs, err := swapfs.New(dev, swapfs.WithBlockingFactor(8))
		if err != nil {
			t.Fatal(err)
		}
		h := fs.Empty()
		data := make([]byte, 64<<10)
		for i := range data {
			data[i] = byte(i*7 + 1)
		}
		for range 4 {
			if err := h.Append(data); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.Sync(); err != nil {
			t.Fatal(err)
		}
		ss := int64(m.Info().SectorSize)
		lo, hi := c.start*ss, (c.start+c.sectors)*ss
		after := m.Bytes()
		if string(before[:lo]) != string(after[:lo]) || string(before[hi:]) != string(after[hi:]) {
			t.Errorf("%s: swap wrote outside its partition", c.name)
		}
		if string(before[lo:hi]) == string(after[lo:hi]) {
			t.Errorf("%s: swap wrote nothing into its partition", c.name)
		}
		fs.Close()
	}
}

func TestFindSpaceBackupGPT(t *testing.T) {
	m := tableDisk(t, "gpt.sparse")
	m.Bytes()[512+70] ^= 1
	dev, err := swapfs.FindSpace(m)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := dev.(*partition.Device); !ok || !p.FromBackup() || p.Entry().Index != 2 {
		t.Errorf("got %T %+v, want partition 2 from the backup GPT", dev, dev)
	}
}

func wantRefused(t *testing.T, what string, dev block.Device, text string) {
	t.Helper()
	var before []byte
	if m, ok := dev.(*block.Mem); ok {
		before = append(before, m.Bytes()...)
	}
	got, err := swapfs.FindSpace(dev)
	if !errors.Is(err, swapfs.ErrNotSwapSpace) || !strings.Contains(err.Error(), text) {
		t.Errorf("%s: %v, %v; want ErrNotSwapSpace saying %q", what, got, err, text)
	}
	if m, ok := dev.(*block.Mem); ok && string(before) != string(m.Bytes()) {
		t.Errorf("%s: FindSpace changed the disk", what)
	}
	if forced, err := swapfs.FindSpace(dev, swapfs.ForceWhole()); err != nil || forced != dev {
		t.Errorf("%s, forced: %v, %v; want the disk whole", what, forced, err)
	}
}

func TestFindSpaceRefuses(t *testing.T) {
	wantRefused(t, "MBR without swap", tableDisk(t, "mbr-noswap.sparse"), "an MBR partition table with 1 partitions and no Linux swap partition")

	m := tableDisk(t, "gpt.sparse")
	m.Bytes()[512+70] ^= 1
	m.Bytes()[len(m.Bytes())-512+70] ^= 1
	wantRefused(t, "both GPT copies corrupt", m, "gpt primary")

	m = tableDisk(t, "mbr.sparse")
	binary.LittleEndian.PutUint32(m.Bytes()[446+16+12:], 1<<20)
	wantRefused(t, "MBR entry past the end", m, "mbr entry 2")

	for _, c := range []struct{ file, at, text string }{
		{"ext4.bin", "", "ext2/3/4"},
		{"fat16.bin", "", "FAT"},
		{"fat32.bin", "", "FAT"},
		{"swap.bin", "", "swap signature (SWAPSPACE2)"},
	} {
		m := memDisk(4096)
		copy(m.Bytes(), signature(t, c.file))
		wantRefused(t, c.file, m, c.text)
	}
	m = memDisk(4096)
	copy(m.Bytes()[1024:], []byte{0xD1, 0x00, 0x20, 0x40, 0x00, 0x00, 0x01, 0x80})
	wantRefused(t, "i.MX IVT", m, "i.MX boot image")
	m = memDisk(4096)
	copy(m.Bytes()[4086:], "S1SUSPEND")
	wantRefused(t, "hibernation", m, "hibernation image")
	m = memDisk(4096)
	copy(m.Bytes()[512:], "EFI PART")
	wantRefused(t, "GPT header alone", m, "without a protective MBR")
}

// A swap partition holding a file system is refused; one holding
// Linux's swap signature is swap's.
func TestFindSpaceSwapPartitionContents(t *testing.T) {
	m := tableDisk(t, "gpt.sparse")
	copy(m.Bytes()[8192*512:], signature(t, "ext4.bin"))
	wantRefused(t, "swap partition holding ext4", m, "swap partition 2 holds an ext2/3/4")

	m = tableDisk(t, "gpt.sparse")
	copy(m.Bytes()[8192*512:], signature(t, "swap.bin"))
	if dev, err := swapfs.FindSpace(m); err != nil {
		t.Errorf("swap partition with mkswap's signature: %v, %v", dev, err)
	}

	// A partition the caller opened: its type decides.
	tab, err := partition.Read(m)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := tab.Open(m, 1)
	if _, err := swapfs.FindSpace(data); !errors.Is(err, swapfs.ErrNotSwapSpace) || !strings.Contains(err.Error(), "partition 1 is of type 0fc63daf") {
		t.Errorf("data partition: %v", err)
	}
	swap, _ := tab.Open(m, 2)
	if dev, err := swapfs.FindSpace(swap); err != nil || dev != block.Device(swap) {
		t.Errorf("swap partition: %v, %v", dev, err)
	}
}

// Forcing reads nothing.
func TestFindSpaceForceReadsNothing(t *testing.T) {
	m := memDisk(64)
	m.Disconnect()
	if dev, err := swapfs.FindSpace(m, swapfs.ForceWhole()); err != nil || dev != block.Device(m) {
		t.Errorf("forced: %v, %v", dev, err)
	}
	if _, err := swapfs.FindSpace(m); !errors.Is(err, block.ErrDisconnected) {
		t.Errorf("unforced on a disconnected disk: %v", err)
	}
}

// Random disks and disks an earlier swap run filled carry no signature:
// each check matches random bytes with probability below 2^-32, so in
// these few thousand draws none may fire.
func TestFindSpaceRandomData(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := memDisk(256)
	n := 1000
	if testing.Short() {
		n = 200
	}
	for i := range n {
		for j := range m.Bytes() {
			m.Bytes()[j] = byte(r.Uint32())
		}
		if dev, err := swapfs.FindSpace(m); err != nil || dev != block.Device(m) {
			t.Fatalf("random disk %d: %v", i, err)
		}
	}
	// swaptest's pattern (the README's formula), for many seeds.
	for seed := uint64(0); seed < 1000; seed++ {
		b := m.Bytes()
		for o := 0; o < len(b); o += 8 {
			binary.LittleEndian.PutUint64(b[o:], (seed^uint64(o/8))*0x9e3779b97f4a7c15)
		}
		if dev, err := swapfs.FindSpace(m); err != nil || dev != block.Device(m) {
			t.Fatalf("swaptest pattern of seed %d: %v", seed, err)
		}
	}
}

// Every field a signature check reads matters: changing any one of them
// in a real signature stops the match (so the probability argument's
// factors are all there).
func TestFindSpaceSignatureFields(t *testing.T) {
	type field struct {
		file string
		off  int
	}
	ivt := []byte{0xD1, 0x00, 0x20, 0x41}
	for _, f := range []field{
		{"ext4.bin", 1024 + 56}, {"ext4.bin", 1024 + 57}, {"ext4.bin", 1024 + 79}, {"ext4.bin", 1024 + 27},
		{"fat16.bin", 510}, {"fat16.bin", 511}, {"fat16.bin", 0}, {"fat16.bin", 12}, {"fat16.bin", 16}, {"fat16.bin", 21}, {"fat16.bin", 13},
		{"swap.bin", 4086}, {"swap.bin", 4095},
		{"ivt", 1024}, {"ivt", 1025}, {"ivt", 1026}, {"ivt", 1027}, {"ivt", 1024 + 8}, {"ivt", 1024 + 31},
	} {
		m := memDisk(4096)
		if f.file == "ivt" {
			copy(m.Bytes()[1024:], ivt)
		} else {
			copy(m.Bytes(), signature(t, f.file))
			// mkfs.fat leaves the partition entries' place zero, which
			// is also an empty MBR; boot code there makes it FAT alone.
			m.Bytes()[446] = 0x33
		}
		if _, err := swapfs.FindSpace(m); err == nil {
			t.Fatalf("%s: not detected before the change", f.file)
		}
		m.Bytes()[f.off] ^= 0x5a
		if dev, err := swapfs.FindSpace(m); err != nil || dev != block.Device(m) {
			t.Errorf("%s with byte %d changed: still refused: %v", f.file, f.off, err)
		}
	}
}
