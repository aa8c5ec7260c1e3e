// Package partitiontest loads the partition tables that sfdisk, sgdisk
// and fdisk made for package partition's tests (its testdata, written by
// testdata/mkimages in the format of testdata/sparse.go) as in-memory
// disks, for any package that tests code over a partitioned disk.
package partitiontest

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// Disk returns the disk of package partition's testdata file name (e.g.
// "gpt.sparse") as a writable block.Mem, or fails t.
func Disk(t testing.TB, name string) *block.Mem {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("partitiontest: cannot find the testdata folder")
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// Load reads a sparse image: "TSPARSE1", the sector size (uint32) and the
// disk's sectors (uint64), then runs of sectors, each its first LBA
// (uint64), its length in sectors (uint32) and the data, little-endian.
func Load(b []byte) (*block.Mem, error) {
	le := binary.LittleEndian
	if len(b) < 20 || string(b[:8]) != "TSPARSE1" {
		return nil, fmt.Errorf("partitiontest: not a sparse image")
	}
	ss, sectors := int64(le.Uint32(b[8:])), int64(le.Uint64(b[12:]))
	if ss < 512 || ss&(ss-1) != 0 || sectors <= 0 || sectors > 1<<24 {
		return nil, fmt.Errorf("partitiontest: sector size %d, %d sectors", ss, sectors)
	}
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: int(ss), Sectors: sectors})
	for b = b[20:]; len(b) > 0; {
		if len(b) < 12 {
			return nil, fmt.Errorf("partitiontest: truncated run header")
		}
		lba, n := int64(le.Uint64(b)), int64(le.Uint32(b[8:]))
		if lba < 0 || n > sectors || lba > sectors-n || int64(len(b)-12) < n*ss {
			return nil, fmt.Errorf("partitiontest: run of %d sectors at LBA %d", n, lba)
		}
		copy(m.Bytes()[lba*ss:], b[12:12+n*ss])
		b = b[12+n*ss:]
	}
	return m, nil
}
