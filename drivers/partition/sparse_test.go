package partition_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// sparseDisk is a read-only block.Device that holds a few runs of
// sectors and reads zeroes elsewhere, whatever its size: the tool-made
// tables of testdata (*.sparse, see testdata/sparse.go) and the fuzz
// targets' disks.
type sparseDisk struct {
	info block.Info
	runs []run
}

type run struct {
	lba  int64
	data []byte
}

var errSparse = errors.New("not a sparse image")

// parseSparse reads the format of testdata/sparse.go, without its magic.
// It bounds what it accepts (sector size, run lengths) by the input's own
// size, so a fuzz input cannot make it allocate more than it holds.
func parseSparse(b []byte) (*sparseDisk, error) {
	if len(b) < 12 {
		return nil, errSparse
	}
	ss := int(binary.LittleEndian.Uint32(b))
	sectors := int64(binary.LittleEndian.Uint64(b[4:]))
	if ss < 512 || ss > 4096 || ss&(ss-1) != 0 || sectors < 0 || sectors > 1<<40 {
		return nil, errSparse
	}
	d := &sparseDisk{info: block.Info{SectorSize: ss, Sectors: sectors}}
	for b = b[12:]; len(b) >= 12; {
		lba := int64(binary.LittleEndian.Uint64(b))
		n := int64(binary.LittleEndian.Uint32(b[8:]))
		b = b[12:]
		if lba < 0 || n < 1 || n > int64(len(b)/ss) || lba >= sectors || n > sectors-lba {
			return nil, errSparse
		}
		d.runs = append(d.runs, run{lba, b[:n*int64(ss)]})
		b = b[n*int64(ss):]
	}
	return d, nil
}

func loadSparse(t testing.TB, name string) *sparseDisk {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:8]) != "TSPARSE1" {
		t.Fatalf("%s: no TSPARSE1 magic", name)
	}
	d, err := parseSparse(b[8:])
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// mem copies the sparse disk into a block.Mem (for small disks).
func (d *sparseDisk) mem() *block.Mem {
	info := d.info
	info.ReadWrite = true
	m := block.NewMem(info)
	for _, r := range d.runs {
		copy(m.Bytes()[r.lba*int64(info.SectorSize):], r.data)
	}
	return m
}

func (d *sparseDisk) Info() block.Info { return d.info }

func (d *sparseDisk) Read(sector int64, bufs ...[]byte) error {
	n, err := block.CheckRequest(d.info, "read", sector, bufs)
	if err != nil {
		return err
	}
	ss := int64(d.info.SectorSize)
	lba := sector
	for _, b := range bufs {
		for i := int64(0); i < int64(len(b))/ss; i++ {
			s := b[i*ss : (i+1)*ss]
			clear(s)
			for _, r := range d.runs {
				if lba >= r.lba && lba < r.lba+int64(len(r.data))/ss {
					copy(s, r.data[(lba-r.lba)*ss:])
				}
			}
			lba++
		}
	}
	_ = n
	return nil
}

func (d *sparseDisk) Write(sector int64, bufs ...[]byte) error {
	return block.Errorf("write", sector, block.ErrReadOnly)
}

func (d *sparseDisk) Disconnect() error { return nil }
