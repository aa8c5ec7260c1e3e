package swapfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// FuzzOps runs random sequences of operations on up to four handles of a
// small disk against a model: the bytes each handle should hold. It checks
// every read, every size, the free block count and the bitmap after each
// operation, and that failed appends (out of space, device errors) change
// nothing.
//
// Input: byte 0 picks the blocking factor (bits 0-2), I/O buffers (and so
// granules of write-behind and read-ahead) of 2, 4, … 14 units rather
// than the whole disk (bits 3-5, if not 0), the sector size (bit 6: 4096,
// else 512) and encryption (bit 7); byte 1 the disk size; then
// up to 64 operations of 5 bytes each: kind and handle, then two 16-bit
// arguments.
func FuzzOps(f *testing.F) {
	const maxFuzzOps = 64
	f.Add([]byte{0, 40, 0, 0, 10, 0, 0, 8, 0, 0, 10, 0, 0})
	f.Add([]byte{2, 200, 0, 0xff, 0x0f, 0, 0, 1, 0xff, 0xff, 0, 0, 8, 0x10, 0x00, 0x00, 0x20})
	f.Add([]byte{0x41, 100, 4, 0x00, 0x30, 0, 0, 0x19, 0, 0, 0, 0, 0x08, 0x00, 0x01, 0x00, 0x40})
	f.Add([]byte{0x08, 255, 0, 0x00, 0x30, 0, 0, 0x08, 0x00, 0x10, 0x00, 0x40, 0, 0x00, 0x08, 0, 0, 8, 0x00, 0x01, 0x00, 0x40, 0x18, 0x00, 0x30, 0, 0, 0x1c, 0x10, 0, 0x00, 0x20})
	f.Add([]byte{0x87, 255, 0, 0x10, 0x10, 0, 0, 1, 0x20, 0x20, 0, 0, 24, 0, 0, 0, 0, 28, 0, 0, 0, 0, 0, 0, 100, 0, 0, 8, 0, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		bf := []int{1, 2, 3, 4, 7, 8, 16, 64}[in[0]&7]
		ss := 512
		if in[0]&0x40 != 0 {
			ss = 4096
		}
		var opts []Option
		if in[0]&0x80 != 0 {
			opts = append(opts, WithEncryption())
		}
		dev := &failDev{Mem: newMem(ss, 8+int64(in[1]))}
		fs, err := New(dev, append(opts, WithBlockingFactor(bf))...)
		if err != nil {
			t.Fatal(err)
		}
		if u := int64(in[0] >> 3 & 7); u != 0 {
			setIOSize(fs, 2*u)
		}
		var hs [4]*Handle
		var models [4][]byte
		for i := range hs {
			hs[i] = fs.Empty()
		}
		sizes := func() []int64 {
			s := make([]int64, len(models))
			for i, m := range models {
				s[i] = int64(len(m))
			}
			return s
		}
		seq := byte(0)
		ops := in[2:]
		ops = ops[:min(len(ops), 5*maxFuzzOps)] // longer inputs are slow, not better
		for len(ops) >= 5 {
			kind, i := ops[0]>>2&7, ops[0]&3
			a := int(binary.LittleEndian.Uint16(ops[1:]))
			b := int(binary.LittleEndian.Uint16(ops[3:]))
			ops = ops[5:]
			h := hs[i]
			switch kind {
			case 0, 1, 6: // append, write, append on a failing disk
				p := make([]byte, a%(3*bf*ss+100))
				for j := range p {
					seq++
					p[j] = seq
				}
				if kind == 6 {
					dev.set(nil, func(int64, int64) bool { return true })
				}
				var err error
				if kind == 1 {
					var n int
					n, err = h.Write(p)
					if (err == nil && n != len(p)) || (err != nil && n != 0) {
						t.Fatalf("Write = %d, %v", n, err)
					}
				} else {
					err = h.Append(p)
				}
				dev.set(nil, nil)
				switch {
				case err == nil:
					models[i] = append(models[i], p...)
				case errors.Is(err, ErrOutOfSpace):
					if free := fs.Stats().FreeBlocks * fs.blockPayload; int64(len(p)) <= free {
						t.Fatalf("ErrOutOfSpace appending %d bytes with %d free", len(p), free)
					}
				case kind == 6 && errors.Is(err, block.ErrIO):
				default:
					t.Fatalf("Append(%d bytes): %v", len(p), err)
				}
			case 2, 7: // read, read on a failing disk
				size := len(models[i])
				off := int64(a % (size + 2))
				p := make([]byte, b%(size+10))
				if kind == 7 {
					dev.set(func(int64, int64) bool { return true }, nil)
				}
				n, err := h.ReadAt(p, off)
				dev.set(nil, nil)
				var want []byte
				if off < int64(size) {
					want = models[i][off:min(int(off)+len(p), size)]
				}
				switch {
				case n > len(want) || !bytes.Equal(p[:n], want[:n]):
					t.Fatalf("ReadAt(%d, %d) of %d: %d bytes, wrong", len(p), off, size, n)
				case kind == 7 && errors.Is(err, block.ErrIO):
				case n < len(p) && err == nil:
					t.Fatalf("ReadAt(%d, %d) of %d: short read %d without error", len(p), off, size, n)
				case n < len(want):
					t.Fatalf("ReadAt(%d, %d) of %d: %d bytes, %v", len(p), off, size, n, err)
				case err != nil && err != io.EOF:
					t.Fatalf("ReadAt(%d, %d) of %d: %v", len(p), off, size, err)
				}
			case 3: // free
				if err := h.Free(); err != nil {
					t.Fatal(err)
				}
				models[i] = nil
			case 4: // a fresh handle; the old one is left to the collector
				// after being freed, so the space check stays exact.
				h.Free()
				hs[i] = fs.Empty()
				models[i] = nil
			case 5: // read everything, after a Sync if b is odd
				if b&1 == 1 {
					// The disk is healthy now: a write-behind that
					// failed under kind 6 goes through on the retry.
					if err := h.Sync(); err != nil {
						t.Fatalf("Sync: %v", err)
					}
				}
				checkRead(t, h, models[i], 0, len(models[i]))
			}
			if h := hs[i]; h.Size() != int64(len(models[i])) {
				t.Fatalf("Size %d, want %d", h.Size(), len(models[i]))
			}
			checkSpace(t, fs, sizes()...)
		}
		for i := range hs {
			checkRead(t, hs[i], models[i], 0, len(models[i]))
			hs[i].Free()
		}
		checkSpace(t, fs)
		if !stageIdle(fs) {
			t.Fatal("stream buffers not given back")
		}
	})
}
