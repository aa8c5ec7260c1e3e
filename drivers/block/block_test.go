package block_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
)

func TestMemConforms(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		m := block.NewMem(block.Info{ReadWrite: true, SectorSize: ss, Sectors: 64})
		if err := blocktest.TestDevice(m); err != nil {
			t.Fatalf("sector size %d: %v", ss, err)
		}
		if err := blocktest.TestDisconnect(m); err != nil {
			t.Fatalf("sector size %d: %v", ss, err)
		}
	}
	ro := block.NewMem(block.Info{ReadWrite: false, SectorSize: 512, Sectors: 16})
	if err := blocktest.TestDevice(ro); err != nil {
		t.Fatalf("read-only: %v", err)
	}
}

func ExampleMem() {
	disk := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 2048})
	buf := make([]byte, 1024)
	err := disk.Read(2047, buf) // two sectors, one past the end
	fmt.Println(errors.Is(err, block.ErrOutOfRange))
	fmt.Println(err)
	// Output:
	// true
	// block: read sector 2047: sector out of range
}

func TestBadGeometryIsAnError(t *testing.T) {
	for _, info := range []block.Info{
		{SectorSize: 0, Sectors: 1}, {SectorSize: 3, Sectors: 1}, {SectorSize: 512, Sectors: -1},
		{SectorSize: 512, Sectors: math.MaxInt64},
	} {
		m := block.NewMem(info)
		if err := m.Read(0, make([]byte, 512)); err == nil {
			t.Errorf("%+v: read succeeded", info)
		}
	}
}

// TestMemLargerThanAnInt: a Mem whose size does not fit an int (past
// 2 GiB - 1 on 32-bit machines, where make would panic) is an error
// naming the limit; on 64-bit machines the same size is past 1 TiB.
func TestMemLargerThanAnInt(t *testing.T) {
	info := block.Info{ReadWrite: true, SectorSize: 512, Sectors: math.MaxInt/512 + 1}
	if math.MaxInt > 1<<40 {
		info.Sectors = 1<<40/512 + 1
	}
	limit := fmt.Sprint(min(int64(math.MaxInt), 1<<40))
	m := block.NewMem(info)
	err := m.Read(0, make([]byte, 512))
	if err == nil || !strings.Contains(err.Error(), "limit of "+limit+" bytes") {
		t.Errorf("NewMem(%+v).Read = %v, want an error naming the %s-byte limit", info, err, limit)
	}
	if len(m.Bytes()) != 0 {
		t.Errorf("refused device holds %d bytes", len(m.Bytes()))
	}
}

func TestErrorsNameOperationAndSector(t *testing.T) {
	m := block.NewMem(block.Info{ReadWrite: false, SectorSize: 512, Sectors: 8})
	err := m.Write(3, make([]byte, 512))
	if !errors.Is(err, block.ErrReadOnly) || !strings.Contains(err.Error(), "write sector 3") || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(block.ErrIO.Error(), "I/O error") {
		t.Fatal("ErrIO text must contain 'I/O error'")
	}
}

func TestReaderWriterAtMatchesModel(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		m := block.NewMem(block.Info{ReadWrite: true, SectorSize: ss, Sectors: 16})
		a := block.NewReaderWriterAt(m)
		size := int(a.Size())
		model := make([]byte, size)
		rng := rand.New(rand.NewPCG(1, uint64(ss)))
		for i := 0; i < 500; i++ {
			off := rng.IntN(size)
			n := rng.IntN(min(size-off, 3*ss) + 1)
			p := make([]byte, n)
			if rng.IntN(2) == 0 {
				for j := range p {
					p[j] = byte(rng.Uint32())
				}
				if w, err := a.WriteAt(p, int64(off)); err != nil || w != n {
					t.Fatalf("WriteAt(%d, %d) = %d, %v", n, off, w, err)
				}
				copy(model[off:], p)
			} else {
				if r, err := a.ReadAt(p, int64(off)); err != nil || r != n {
					t.Fatalf("ReadAt(%d, %d) = %d, %v", n, off, r, err)
				}
				if !bytes.Equal(p, model[off:off+n]) {
					t.Fatalf("ReadAt(%d, %d): data differs from model", n, off)
				}
			}
		}
		if !bytes.Equal(m.Bytes(), model) {
			t.Fatal("device differs from model")
		}
	}
}

func TestReaderWriterAtEdges(t *testing.T) {
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 4})
	a := block.NewReaderWriterAt(m)
	p := make([]byte, 100)
	if n, err := a.ReadAt(p, 2000); n != 48 || err != io.EOF {
		t.Errorf("read over the end: %d, %v; want 48, EOF", n, err)
	}
	if n, err := a.ReadAt(p, 2048); n != 0 || err != io.EOF {
		t.Errorf("read at the end: %d, %v; want 0, EOF", n, err)
	}
	if _, err := a.ReadAt(p, -1); err == nil {
		t.Error("read at -1 succeeded")
	}
	if _, err := a.WriteAt(p, 2000); !errors.Is(err, block.ErrOutOfRange) {
		t.Errorf("write over the end: %v", err)
	}
	if _, err := a.WriteAt(p, math.MaxInt64); !errors.Is(err, block.ErrOutOfRange) {
		t.Errorf("write at MaxInt64: %v", err)
	}
	if n, err := io.NewSectionReader(a, 0, a.Size()).Read(p); n != 100 || err != nil {
		t.Errorf("SectionReader: %d, %v", n, err)
	}
}

// The adapter makes any Device an io.ReaderAt and io.WriterAt at byte
// offsets, so the standard library's readers work on a disk.
func ExampleNewReaderWriterAt() {
	disk := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 8})
	rw := block.NewReaderWriterAt(disk)
	if _, err := rw.WriteAt([]byte("not on a sector boundary"), 1000); err != nil {
		panic(err)
	}
	b, err := io.ReadAll(io.NewSectionReader(rw, 1004, 17))
	fmt.Printf("%q %v %d\n", b, err, rw.Size())
	// Output: "on a sector bound" <nil> 4096
}
