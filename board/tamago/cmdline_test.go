package tamago_test

import (
	"encoding/binary"
	"errors"
	"maps"
	"testing"

	"github.com/tamaswap/tamaswap/board/tamago"
)

// memory is RAM the VMM wrote: little-endian bytes at an address.
type memory struct {
	unclaimed
	b []byte
}

func (m memory) Read8(off uint32) uint8   { return m.b[off] }
func (m memory) Read32(off uint32) uint32 { return binary.LittleEndian.Uint32(m.b[off:]) }
func (m memory) Read64(off uint32) uint64 { return binary.LittleEndian.Uint64(m.b[off:]) }

// zeroPage is the Linux boot protocol's zero page with cmdline at
// 0x20000, where Firecracker puts it.
func zeroPage(s space, cmdline string) {
	zp := make([]byte, 0x240)
	binary.LittleEndian.PutUint32(zp[0x202:], 0x53726448)
	binary.LittleEndian.PutUint32(zp[0x228:], 0x20000)
	s[0x7000] = memory{b: zp}
	s[0x20000] = memory{b: append([]byte(cmdline), make([]byte, 2048-len(cmdline))...)}
}

func TestBootCmdline(t *testing.T) {
	const line = "console=ttyS0 virtio_mmio.device=4K@0xc0001000:5"
	m := tamago.Firecracker

	s := space{}
	zeroPage(s, line)
	m.MapMem = s.mapMem
	if got, err := m.BootCmdline(); err != nil || got != line {
		t.Errorf("from the zero page: %q, %v", got, err)
	}

	// PVH start info at 0x6000: magic, then cmdline_paddr at byte 24.
	pvh := make([]byte, 32)
	binary.LittleEndian.PutUint32(pvh, 0x336ec578)
	binary.LittleEndian.PutUint64(pvh[24:], 0x30000)
	s = space{0x6000: memory{b: pvh}, 0x30000: memory{b: append([]byte("pvh"), make([]byte, 2045)...)}}
	m.MapMem = s.mapMem
	if got, err := m.BootCmdline(); err != nil || got != "pvh" {
		t.Errorf("from the PVH start info: %q, %v", got, err)
	}

	m.MapMem = space{}.mapMem
	if _, err := m.BootCmdline(); !errors.Is(err, tamago.ErrNoCmdline) {
		t.Errorf("with neither: %v, want ErrNoCmdline", err)
	}

	// A command line without its NUL in 2048 bytes is refused.
	s = space{}
	zeroPage(s, "")
	s[0x20000] = memory{b: make([]byte, 2048)}
	for i := range s[0x20000].(memory).b {
		s[0x20000].(memory).b[i] = 'x'
	}
	m.MapMem = s.mapMem
	if got, err := m.BootCmdline(); err == nil {
		t.Errorf("unterminated: %q, no error", got)
	}
}

func TestVirtioMMIODevices(t *testing.T) {
	got := tamago.VirtioMMIODevices("root=/dev/vda virtio_mmio.device=4K@0xc0001000:5 virtio_mmio.device=4K@0xc0002000:6:2 " +
		"virtio_mmio.device=512@0xfeb00000:12 virtio_mmio.device=4K@0xc0003000 virtio_mmio.device=4K@zz:7 virtio_mmio.device=4K@0xc0004000:x virtio_mmio.device=4K")
	want := map[uint64]int{0xc0001000: 5, 0xc0002000: 6, 0xfeb00000: 12}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
