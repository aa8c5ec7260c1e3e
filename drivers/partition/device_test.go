package partition_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
	"github.com/tamaswap/tamaswap/drivers/partition"
	"github.com/tamaswap/tamaswap/drivers/sdmmc"
	"github.com/tamaswap/tamaswap/drivers/sdmmc/sdmmctest"
	"github.com/tamaswap/tamaswap/drivers/usdhc"
	"github.com/tamaswap/tamaswap/drivers/usdhc/usdhctest"
	"github.com/tamaswap/tamaswap/drivers/virtioblk"
	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

func randomBytes(b []byte, seed uint64) {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
}

// conform runs the conformance suite on sectors [start, start+n) of disk
// and checks that nothing outside them changed (read through the disk).
func conform(t *testing.T, disk block.Device, start, n int64) {
	t.Helper()
	info := disk.Info()
	ss := int64(info.SectorSize)
	outside := func() []byte {
		var all []byte
		for _, r := range [][2]int64{{0, start}, {start + n, info.Sectors - start - n}} {
			for s := r[0]; s < r[0]+r[1]; s += 64 {
				b := make([]byte, min(64, r[0]+r[1]-s)*ss)
				if err := disk.Read(s, b); err != nil {
					t.Fatal(err)
				}
				all = append(all, b...)
			}
		}
		return all
	}
	before := outside()
	p, err := partition.New(disk, start, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := blocktest.TestDevice(p); err != nil {
		t.Error(err)
	}
	if !bytes.Equal(before, outside()) {
		t.Error("sectors outside the partition changed")
	}
	if err := blocktest.TestDisconnect(p); err != nil {
		t.Error(err)
	}
	if b := make([]byte, ss); disk.Read(start, b) != nil {
		t.Error("disconnecting the partition disconnected its disk")
	}
}

func TestDeviceMem(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		m := block.NewMem(block.Info{ReadWrite: true, SectorSize: ss, Sectors: 256})
		randomBytes(m.Bytes(), uint64(ss))
		conform(t, m, 33, 100)
		conform(t, m, 0, 4)
		conform(t, m, 252, 4)
	}
}

// bare is a block.Device with none of the optional interfaces.
type bare struct{ m *block.Mem }

func (b bare) Info() block.Info                    { return b.m.Info() }
func (b bare) Read(s int64, bufs ...[]byte) error  { return b.m.Read(s, bufs...) }
func (b bare) Write(s int64, bufs ...[]byte) error { return b.m.Write(s, bufs...) }
func (b bare) Disconnect() error                   { return b.m.Disconnect() }

func TestDeviceWithoutOptional(t *testing.T) {
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 64})
	randomBytes(m.Bytes(), 3)
	conform(t, bare{m}, 10, 20)
	p, _ := partition.New(bare{m}, 10, 20)
	for name, err := range map[string]error{"flush": p.Flush(), "discard": p.Discard(0, 1), "write-zeroes": p.WriteZeroes(0, 1)} {
		if !errors.Is(err, block.ErrUnimplemented) {
			t.Errorf("%s without the disk's: %v, want ErrUnimplemented", name, err)
		}
	}
}

func TestDeviceForwards(t *testing.T) {
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 64})
	randomBytes(m.Bytes(), 4)
	p, _ := partition.New(m, 10, 20)
	if err := p.WriteZeroes(2, 3); err != nil {
		t.Fatal(err)
	}
	if err := p.Discard(19, 1); err != nil {
		t.Fatal(err)
	}
	b := m.Bytes()
	for s := int64(0); s < 64; s++ {
		zero := bytes.Count(b[s*512:(s+1)*512], []byte{0}) == 512
		if want := s >= 12 && s < 15 || s == 29; zero != want {
			t.Errorf("disk sector %d zero=%v, want %v", s, zero, want)
		}
	}
	for _, err := range []error{p.WriteZeroes(19, 2), p.Discard(-1, 1), p.WriteZeroes(20, 1)} {
		if !errors.Is(err, block.ErrOutOfRange) {
			t.Errorf("range outside the partition: %v", err)
		}
	}
	if err := p.Flush(); err != nil {
		t.Error(err)
	}
}

// failing fails every request at the sector it was given.
type failing struct{ *block.Mem }

func (f failing) Read(s int64, bufs ...[]byte) error {
	return block.Errorf("read", s+1, errors.Join(block.ErrIO, block.ErrBuffersHeld))
}

func TestDeviceErrorNamesItsSector(t *testing.T) {
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 64})
	p, _ := partition.New(failing{m}, 10, 20)
	err := p.Read(5, make([]byte, 1024))
	var oe *block.OpError
	if !errors.As(err, &oe) || oe.Sector != 6 || oe.Op != "read" || !errors.Is(err, block.ErrIO) || !errors.Is(err, block.ErrBuffersHeld) {
		t.Errorf("error %v, want read sector 6 (the partition's), ErrIO and ErrBuffersHeld", err)
	}
	err = p.Read(20, make([]byte, 512))
	if !errors.As(err, &oe) || oe.Sector != 20 || !errors.Is(err, block.ErrOutOfRange) {
		t.Errorf("read past the partition: %v", err)
	}
	m.SetReadWrite(false)
	p, _ = partition.New(m, 10, 20)
	if err := p.Write(3, make([]byte, 512)); !errors.As(err, &oe) || oe.Sector != 3 || !errors.Is(err, block.ErrReadOnly) {
		t.Errorf("write to a read-only disk: %v", err)
	}
}

func TestDeviceBadRange(t *testing.T) {
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 64})
	for _, r := range [][2]int64{{-1, 4}, {0, 0}, {60, 5}, {1 << 62, 1 << 62}} {
		if _, err := partition.New(m, r[0], r[1]); err == nil {
			t.Errorf("New(%d, %d) succeeded", r[0], r[1])
		}
	}
}

// The hot path: one addition and no allocation per request.
func TestDeviceAllocs(t *testing.T) {
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 64})
	p, _ := partition.New(m, 10, 20)
	bufs := [][]byte{make([]byte, 4096)}
	if n := testing.AllocsPerRun(100, func() {
		p.Write(3, bufs...)
		p.Read(3, bufs...)
	}); n != 0 {
		t.Errorf("%v allocations per Write+Read", n)
	}
}

func BenchmarkPartitionRead(b *testing.B) {
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 64})
	p, _ := partition.New(m, 10, 20)
	bufs := [][]byte{make([]byte, 4096)}
	b.Run("disk", func(b *testing.B) {
		for b.Loop() {
			m.Read(13, bufs...)
		}
	})
	b.Run("partition", func(b *testing.B) {
		for b.Loop() {
			p.Read(3, bufs...)
		}
	})
}

func TestDeviceVirtio(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		disk := block.NewMem(block.Info{ReadWrite: true, SectorSize: ss, Sectors: 4 << 20 / int64(ss)})
		randomBytes(disk.Bytes(), 9)
		m, err := virtiotest.New(virtiotest.Config{Transport: virtiotest.MMIOModern, Disk: disk})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := virtio.NewMMIO(m.MMIO())
		if err != nil {
			t.Fatal(err)
		}
		d, err := virtioblk.New(tr, m.DMA())
		if err != nil {
			t.Fatal(err)
		}
		n := d.Info().Sectors
		conform(t, d, n/4, n/2)
		d.Disconnect()
		m.Close()
	}
}

func TestDeviceSDMMC(t *testing.T) {
	card, err := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	model := usdhctest.New(usdhctest.Config{Card: card})
	h := &usdhc.Host{Regs: model.Regs(), DMA: model.DMA(), Width: sdmmc.Width4}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	d, err := sdmmc.New(h, sdmmc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := d.Info().Sectors
	conform(t, d, 2048, n-2048-100)
	for _, v := range model.Violations() {
		t.Errorf("model: %s", v)
	}
}
