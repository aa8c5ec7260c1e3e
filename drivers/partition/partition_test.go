package partition_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/partition"
)

const linuxData = "0fc63daf-8483-4772-8e79-3d69d8477de4"

type want struct {
	index          int
	start, sectors int64
	typ            string
}

func check(t *testing.T, tab *partition.Table, scheme partition.Scheme, w ...want) {
	t.Helper()
	if tab.Scheme != scheme {
		t.Errorf("scheme %v, want %v", tab.Scheme, scheme)
	}
	if len(tab.Partitions) != len(w) {
		t.Fatalf("%d partitions %+v, want %d", len(tab.Partitions), tab.Partitions, len(w))
	}
	for i, e := range tab.Partitions {
		got := want{e.Index, e.Start, e.Sectors, e.TypeName()}
		if got != w[i] {
			t.Errorf("partition %d: %+v, want %+v", i, got, w[i])
		}
	}
}

// Tables made by sfdisk, sgdisk and fdisk -b 4096 (testdata/mkimages).

func TestSfdiskMBR(t *testing.T) {
	tab, err := partition.Read(loadSparse(t, "mbr.sparse"))
	if err != nil {
		t.Fatal(err)
	}
	check(t, tab, partition.MBR,
		want{1, 2048, 4096, "mbr-0x83"},
		want{2, 6144, 2048, "linux-swap"},
		want{5, 10240, 2048, "mbr-0x83"},
		want{6, 14336, 2048, "linux-swap"})
	if e, ok := tab.Swap(); !ok || e.Index != 2 {
		t.Errorf("Swap() = %+v, %v; want partition 2", e, ok)
	}
}

func TestSfdiskMBRNoSwap(t *testing.T) {
	tab, err := partition.Read(loadSparse(t, "mbr-noswap.sparse"))
	if err != nil {
		t.Fatal(err)
	}
	check(t, tab, partition.MBR, want{1, 2048, 14336, "mbr-0x83"})
	if _, ok := tab.Swap(); ok {
		t.Error("Swap() found a swap partition")
	}
}

func TestSgdiskGPT(t *testing.T) {
	tab, err := partition.Read(loadSparse(t, "gpt.sparse"))
	if err != nil {
		t.Fatal(err)
	}
	check(t, tab, partition.GPT, want{1, 2048, 6144, linuxData}, want{2, 8192, 8159, "linux-swap"})
	if tab.Backup || tab.HeaderLBA != 1 {
		t.Errorf("Backup %v HeaderLBA %d, want the primary at LBA 1", tab.Backup, tab.HeaderLBA)
	}
	if got := tab.Partitions[1].ID.String(); got != "aaaaaaaa-0000-0000-0000-000000000002" {
		t.Errorf("partition 2's GUID %s", got)
	}
}

func TestFdiskGPT4K(t *testing.T) {
	tab, err := partition.Read(loadSparse(t, "gpt4k.sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if tab.SectorSize != 4096 {
		t.Errorf("sector size %d", tab.SectorSize)
	}
	check(t, tab, partition.GPT, want{1, 256, 1024, linuxData}, want{2, 1280, 2560, "linux-swap"})
}

func TestNoTable(t *testing.T) {
	tab, err := partition.Read(block.NewMem(block.Info{SectorSize: 512, Sectors: 64}))
	if err != nil || tab.Scheme != partition.None || len(tab.Partitions) != 0 {
		t.Errorf("zero disk: %+v, %v; want no table", tab, err)
	}
}

// gptFix recomputes the array and header CRC32s of the header at lba.
func gptFix(b []byte, ss int, lba int64) {
	h := b[lba*int64(ss):]
	le := binary.LittleEndian
	entryLBA := le.Uint64(h[72:])
	n, size := le.Uint32(h[80:]), le.Uint32(h[84:])
	if end := entryLBA*uint64(ss) + uint64(n)*uint64(size); end <= uint64(len(b)) {
		le.PutUint32(h[88:], crc32.ChecksumIEEE(b[entryLBA*uint64(ss):end]))
	}
	le.PutUint32(h[16:], 0)
	le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:le.Uint32(h[12:])]))
}

func gptMem(t *testing.T, name string) (*block.Mem, int, int64) {
	m := loadSparse(t, name).mem()
	return m, m.Info().SectorSize, m.Info().Sectors - 1
}

func TestGPTBackup(t *testing.T) {
	for _, name := range []string{"gpt.sparse", "gpt4k.sparse"} {
		for _, c := range []struct {
			what    string
			corrupt func(b []byte, ss int)
			why     string
		}{
			{"header byte", func(b []byte, ss int) { b[ss+60] ^= 1 }, "CRC32"},
			{"signature", func(b []byte, ss int) { clear(b[ss : ss+8]) }, "signature"},
			{"array byte", func(b []byte, ss int) { b[2*ss+100] ^= 0x80 }, "entry array"},
			{"whole LBA 1", func(b []byte, ss int) { clear(b[ss : 2*ss]) }, "signature"},
		} {
			t.Run(name+"/"+c.what, func(t *testing.T) {
				m, ss, last := gptMem(t, name)
				good, err := partition.Read(m)
				if err != nil {
					t.Fatal(err)
				}
				c.corrupt(m.Bytes(), ss)
				before := append([]byte(nil), m.Bytes()...)
				tab, err := partition.Read(m)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if !tab.Backup || tab.HeaderLBA != last || tab.PrimaryErr == nil || !strings.Contains(tab.PrimaryErr.Error(), c.why) {
					t.Errorf("Backup %v HeaderLBA %d PrimaryErr %v; want the backup at %d, primary fault %q", tab.Backup, tab.HeaderLBA, tab.PrimaryErr, last, c.why)
				}
				if len(tab.Partitions) != len(good.Partitions) {
					t.Fatalf("backup has %d partitions, primary %d", len(tab.Partitions), len(good.Partitions))
				}
				for i := range tab.Partitions {
					if tab.Partitions[i] != good.Partitions[i] {
						t.Errorf("backup partition %+v, primary %+v", tab.Partitions[i], good.Partitions[i])
					}
				}
				if string(before) != string(m.Bytes()) {
					t.Error("Read changed the disk (it must never repair)")
				}
				// Both copies corrupt: an error naming both.
				m.Bytes()[last*int64(ss)+1] ^= 1
				if _, err := partition.Read(m); !errors.Is(err, partition.ErrInvalid) || !strings.Contains(err.Error(), "primary") || !strings.Contains(err.Error(), "backup") {
					t.Errorf("both corrupt: %v", err)
				}
			})
		}
	}
}

func TestGPTHostile(t *testing.T) {
	le := binary.LittleEndian
	for _, c := range []struct {
		what   string
		change func(b []byte, ss int, last int64)
		want   string
	}{
		{"entry past the end", func(b []byte, ss int, last int64) {
			le.PutUint64(b[2*ss+128+40:], uint64(last+5))
		}, "gpt entry 2"},
		{"entry over the primary array", func(b []byte, ss int, last int64) {
			le.PutUint64(b[2*ss+32:], 3)
		}, "gpt entry 1"},
		{"entry over the backup header", func(b []byte, ss int, last int64) {
			le.PutUint64(b[2*ss+128+40:], uint64(last))
		}, "gpt entry 2"},
		{"entries overlap", func(b []byte, ss int, last int64) {
			le.PutUint64(b[2*ss+128+32:], 8000)
		}, "gpt entries 1"},
		{"first after last", func(b []byte, ss int, last int64) {
			le.PutUint64(b[2*ss+32:], 9000)
		}, "gpt entry 1"},
		{"huge array", func(b []byte, ss int, last int64) {
			le.PutUint32(b[ss+80:], 0xffffffff)
		}, "exceed"},
		{"huge entries", func(b []byte, ss int, last int64) {
			le.PutUint32(b[ss+84:], 1<<31)
		}, "entry size"},
		{"usable over the array", func(b []byte, ss int, last int64) {
			le.PutUint64(b[ss+40:], 2)
		}, "entry array"},
	} {
		t.Run(c.what, func(t *testing.T) {
			m, ss, last := gptMem(t, "gpt.sparse")
			b := m.Bytes()
			// Change both copies alike, with their CRCs recomputed:
			// the table is consistent, and wrong.
			bl := last * int64(ss)
			backupArray := int64(le.Uint64(b[bl+72:])) * int64(ss)
			copy(b[bl:], b[ss:2*ss])
			c.change(b, ss, last)
			copy(b[backupArray:], b[2*ss:34*ss])
			hdr := append([]byte(nil), b[ss:2*ss]...)
			le.PutUint64(hdr[24:], uint64(last))
			le.PutUint64(hdr[32:], 1)
			le.PutUint64(hdr[72:], uint64(backupArray/int64(ss)))
			copy(b[bl:], hdr)
			gptFix(b, ss, 1)
			gptFix(b, ss, last)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			_, err := partition.Read(m)
			runtime.ReadMemStats(&ms)
			if !errors.Is(err, partition.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Read: %v; want ErrInvalid naming %q", err, c.want)
			}
			if got := ms.TotalAlloc - before; got > 256<<10 {
				t.Errorf("Read allocated %d bytes", got)
			}
		})
	}
}

func TestGPTWithoutProtectiveMBR(t *testing.T) {
	m, ss, _ := gptMem(t, "gpt.sparse")
	clear(m.Bytes()[:ss])
	if _, err := partition.Read(m); !errors.Is(err, partition.ErrInvalid) {
		t.Errorf("GPT without its protective MBR: %v, want ErrInvalid", err)
	}
}

func TestMBRHostile(t *testing.T) {
	le := binary.LittleEndian
	entry := func(i int) int { return 446 + 16*i }
	for _, c := range []struct {
		what   string
		change func(b []byte)
		want   string
	}{
		{"entry past the end", func(b []byte) { le.PutUint32(b[entry(1)+12:], 16384) }, "mbr entry 2"},
		{"entry at LBA 0", func(b []byte) { le.PutUint32(b[entry(0)+8:], 0) }, "mbr entry 1"},
		{"primaries overlap", func(b []byte) { le.PutUint32(b[entry(1)+8:], 6000) }, "mbr entries 1"},
		{"two extended", func(b []byte) {
			b[entry(3)+4] = 0x0f
			le.PutUint32(b[entry(3)+8:], 9000)
			le.PutUint32(b[entry(3)+12:], 10)
		}, "both extended"},
		{"chain loops", func(b []byte) {
			// The second EBR links back to the first.
			e := 12288 * 512
			le.PutUint32(b[e+entry(1)+8:], 0)
			b[e+entry(1)+4] = 5
			le.PutUint32(b[e+entry(1)+12:], 100)
		}, "links to LBA 8192"},
		{"logical outside", func(b []byte) { le.PutUint32(b[8192*512+entry(0)+12:], 1<<20) }, "logical partition 5"},
	} {
		t.Run(c.what, func(t *testing.T) {
			m := loadSparse(t, "mbr.sparse").mem()
			c.change(m.Bytes())
			_, err := partition.Read(m)
			if !errors.Is(err, partition.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Read: %v; want ErrInvalid naming %q", err, c.want)
			}
		})
	}
}

// A chain of records each linking to the next sector runs to MaxLogical
// and stops there.
func TestMBRLongChain(t *testing.T) {
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 4096})
	b := m.Bytes()
	le := binary.LittleEndian
	b[510], b[511] = 0x55, 0xaa
	b[446+4] = 5
	le.PutUint32(b[446+8:], 1)
	le.PutUint32(b[446+12:], 4000)
	for i := int64(1); i < 4000; i++ {
		e := b[i*512:]
		e[510], e[511] = 0x55, 0xaa
		e[446+16+4] = 5
		le.PutUint32(e[446+16+8:], uint32(i)) // next record: extended start + i
		le.PutUint32(e[446+16+12:], 1)
	}
	if _, err := partition.Read(m); !errors.Is(err, partition.ErrInvalid) || !strings.Contains(err.Error(), "more than") {
		t.Errorf("Read: %v", err)
	}
}

// A FAT boot sector has the 0x55AA signature but no valid boot
// indicators: it is not an MBR.
func TestFATIsNotMBR(t *testing.T) {
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 64})
	b := m.Bytes()
	b[0], b[1], b[2] = 0xeb, 0x3c, 0x90
	for i := 62; i < 510; i++ {
		b[i] = byte(i*7 + 1)
	}
	b[446] = 0x33
	b[510], b[511] = 0x55, 0xaa
	tab, err := partition.Read(m)
	if err != nil || tab.Scheme != partition.None {
		t.Errorf("FAT boot sector: %+v, %v", tab, err)
	}
}

func TestIOError(t *testing.T) {
	m := loadSparse(t, "gpt.sparse").mem()
	m.Disconnect()
	if _, err := partition.Read(m); !errors.Is(err, block.ErrDisconnected) {
		t.Errorf("Read of a disconnected disk: %v", err)
	}
}
