package tamago

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Where a VMM that boots a kernel directly leaves its command line: the
// PVH start info (Xen's arch-x86/hvm/start_info.h: magic 0x336ec578,
// cmdline_paddr at byte 24), which Firecracker writes at 0x6000 for an
// image with a PVH entry note, or else the Linux boot protocol's zero
// page at 0x7000 (Documentation/arch/x86/boot.rst: the header's "HdrS"
// at 0x202, cmd_line_ptr at 0x228) (Firecracker src/vmm/src/arch/x86_64/
// layout.rs: PVH_INFO_START, ZERO_PAGE_START; the command line itself at
// CMDLINE_START 0x20000, at most CMDLINE_MAX_SIZE 2048 bytes).
const (
	pvhStartInfo     = 0x6000
	pvhMagic         = 0x336ec578
	pvhCmdlineOff    = 24
	zeroPage         = 0x7000
	setupHeaderMagic = 0x53726448 // "HdrS"
	setupHeaderOff   = 0x202
	cmdLinePtrOff    = 0x228
	maxCmdline       = 2048
)

// ErrNoCmdline is BootCmdline's error when memory holds neither boot
// structure.
var ErrNoCmdline = errors.New("tamago: no kernel command line in memory (neither PVH start info nor a Linux zero page)")

// BootCmdline returns the kernel command line the VMM handed the
// program, read from physical memory (see the constants above).
func (m Machine) BootCmdline() (string, error) {
	mapMem := m.mapMem()
	if mapMem == nil {
		return "", ErrNoRegisterAccess
	}
	var at uint64
	if pvh := mapMem(pvhStartInfo, 32); pvh.Read32(0) == pvhMagic {
		at = pvh.Read64(pvhCmdlineOff)
	} else if zp := mapMem(zeroPage, 0x240); zp.Read32(setupHeaderOff) == setupHeaderMagic {
		at = uint64(zp.Read32(cmdLinePtrOff))
	} else {
		return "", ErrNoCmdline
	}
	if at == 0 {
		return "", nil
	}
	r := mapMem(at, maxCmdline)
	var b strings.Builder
	for i := uint32(0); i < maxCmdline; i++ {
		c := r.Read8(i)
		if c == 0 {
			return b.String(), nil
		}
		b.WriteByte(c)
	}
	return "", fmt.Errorf("tamago: kernel command line at %#x: no end in %d bytes", at, maxCmdline)
}

// VirtioMMIODevices returns the GSI of each virtio-mmio window that a
// kernel command line names with virtio_mmio.device=SIZE@ADDR:GSI[:ID]
// (Linux drivers/virtio/virtio_mmio.c, vm_cmdline_set: SIZE with a K, M
// or G suffix, ADDR and GSI in C notation), by window address. Other
// words, and malformed ones, are left out.
func VirtioMMIODevices(cmdline string) map[uint64]int {
	gsis := map[uint64]int{}
	for _, w := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(w, "virtio_mmio.device=")
		if !ok {
			continue
		}
		_, rest, ok := strings.Cut(v, "@")
		if !ok {
			continue
		}
		f := strings.Split(rest, ":")
		if len(f) < 2 {
			continue
		}
		addr, err1 := strconv.ParseUint(f[0], 0, 64)
		gsi, err2 := strconv.ParseUint(f[1], 0, 16)
		if err1 != nil || err2 != nil {
			continue
		}
		gsis[addr] = int(gsi)
	}
	return gsis
}
