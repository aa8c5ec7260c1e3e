package partition_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/partition"
)

// The fuzz targets give Read a disk described by the input (the format
// of testdata/sparse.go without its magic: sector size, disk size, runs
// of sectors), seeded with the tables sfdisk, sgdisk and fdisk made.
// Whatever the input, Read must return, without a panic, either an error
// or partitions that lie inside the disk, apart, and open as devices
// whose first and last sectors read.

func FuzzMBR(f *testing.F) { fuzzTable(f, "mbr.sparse", "mbr-noswap.sparse") }

func FuzzGPT(f *testing.F) { fuzzTable(f, "gpt.sparse", "gpt4k.sparse") }

func fuzzTable(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		b, err := os.ReadFile(filepath.Join("testdata", s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[8:])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		disk, err := parseSparse(data)
		if err != nil {
			return
		}
		tab, err := partition.Read(disk)
		if err != nil {
			return
		}
		checkTable(t, disk, tab)
	})
}

func checkTable(t *testing.T, disk *sparseDisk, tab *partition.Table) {
	n := disk.Info().Sectors
	ps := slices.Clone(tab.Partitions)
	slices.SortFunc(ps, func(a, b partition.Entry) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	seen := map[int]bool{}
	for i, e := range ps {
		if e.Start < 1 || e.Sectors < 1 || e.Start > n-e.Sectors {
			t.Fatalf("partition %d (LBA %d, %d sectors) outside a disk of %d sectors", e.Index, e.Start, e.Sectors, n)
		}
		if i > 0 && ps[i-1].Start+ps[i-1].Sectors > e.Start {
			t.Fatalf("partitions %d and %d overlap", ps[i-1].Index, e.Index)
		}
		if seen[e.Index] {
			t.Fatalf("two partitions numbered %d", e.Index)
		}
		seen[e.Index] = true
		p, err := tab.Open(disk, e.Index)
		if err != nil {
			t.Fatalf("Open(%d): %v", e.Index, err)
		}
		b := make([]byte, disk.Info().SectorSize)
		if err := p.Read(0, b); err != nil {
			t.Fatalf("partition %d: read sector 0: %v", e.Index, err)
		}
		if err := p.Read(e.Sectors-1, b); err != nil {
			t.Fatalf("partition %d: read its last sector: %v", e.Index, err)
		}
	}
}

func BenchmarkReadGPT(b *testing.B) {
	d := loadSparse(b, "gpt.sparse")
	for b.Loop() {
		partition.Read(d)
	}
}
