package swapfs

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/partition"
)

// ErrNotSwapSpace is what FindSpace's refusals match: the device holds
// something that is not swap's to overwrite.
var ErrNotSwapSpace = errors.New("not swap space")

// SpaceOption changes what FindSpace accepts.
type SpaceOption func(*spaceConfig)

type spaceConfig struct{ force bool }

// ForceWhole makes FindSpace return the device it was given, whole,
// whatever it holds, without reading it: the explicit act that
// overwrites a partition table, a boot image or a file system.
func ForceWhole() SpaceOption { return func(c *spaceConfig) { c.force = true } }

// FindSpace returns the space on dev that swap may use, or an error
// matching ErrNotSwapSpace that says what dev holds; it only reads. Call
// it before New (which reads nothing and uses whatever device it is
// given, from sector 0 to the end), as Linux's swapon checks a device
// before using it:
//
//   - A disk with a partition table (partition.Read): its first
//     partition of type Linux swap (GPT
//     0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, MBR 0x82), as a
//     *partition.Device (whose FromBackup says whether the table came
//     from the backup GPT). A table without one, or one that cannot be
//     read (corrupt, inconsistent, both GPT copies bad), is refused.
//   - A disk without a table: the whole disk, unless it carries a known
//     signature: an i.MX boot image (IVT at byte 1024), a FAT or
//     ext2/3/4 file system, or Linux swap or hibernation data. Then it
//     is refused. A blank disk, or one an earlier swap run filled with
//     data, carries none.
//   - A *partition.Device (a partition the caller chose): used if its
//     table entry says Linux swap (or it has no entry: partition.New).
//
// Inside a swap partition only file-system signatures (FAT, ext2/3/4)
// are refused: they say the partition's type is wrong and someone's files
// are there. A Linux swap signature or hibernation image there is Linux's
// swap, which the partition's type gives to swap: Linux's own swapon
// rewrites a hibernation signature it finds and goes on. Linux also
// refuses a device without its swap header (mkswap), but it keeps state
// in that header; swapfs keeps none on disk (its files die with the FS),
// so the partition type is the whole declaration.
//
// Each signature check matches random data with probability below
// 2^-32 (the arguments are at each check), so a disk of random data,
// swap's own data from an earlier run included, is not taken for one.
// Plain swap stores what programs give it as it is, though: a whole disk
// whose first swap file began with, say, a file-system image carries
// that signature afterwards and is refused until forced (encrypted swap
// stores only ciphertext). A disk meant for swap is best given a swap
// partition.
func FindSpace(dev block.Device, opts ...SpaceOption) (block.Device, error) {
	var c spaceConfig
	for _, o := range opts {
		o(&c)
	}
	if c.force {
		return dev, nil
	}
	if p, ok := dev.(*partition.Device); ok {
		e := p.Entry()
		if e.Index != 0 && !e.IsSwap() {
			return nil, refuse("partition %d is of type %s, not Linux swap", e.Index, e.TypeName())
		}
		return checkSwapPartition(p)
	}
	t, err := partition.Read(dev)
	if err != nil {
		if errors.Is(err, partition.ErrInvalid) || errors.Is(err, partition.ErrUnsupported) {
			return nil, refuse("found a partition table it cannot use: %v", err)
		}
		return nil, fmt.Errorf("swapfs: reading the partition table: %w", err)
	}
	if t.Scheme != partition.None {
		e, ok := t.Swap()
		if !ok {
			if t.Scheme == partition.MBR && len(t.Partitions) == 0 {
				// An MBR with no entries may be a FAT boot sector
				// whose code area is zero: say which.
				if sig, err := wholeSignature(dev); err == nil && sig != "" {
					return nil, refuse("found %s", sig)
				}
			}
			return nil, refuse("found %s partition table with %d partitions and no Linux swap partition%s",
				schemeName(t.Scheme), len(t.Partitions), backupNote(t))
		}
		p, err := t.Open(dev, e.Index)
		if err != nil {
			return nil, err
		}
		return checkSwapPartition(p)
	}
	sig, err := wholeSignature(dev)
	if err != nil {
		return nil, fmt.Errorf("swapfs: reading the disk's first sectors: %w", err)
	}
	if sig != "" {
		return nil, refuse("found %s on the whole disk", sig)
	}
	return dev, nil
}

func schemeName(s partition.Scheme) string {
	if s == partition.GPT {
		return "a GPT"
	}
	return "an MBR"
}

func backupNote(t *partition.Table) string {
	if t.Backup {
		return " (read from the backup GPT)"
	}
	return ""
}

func refuse(format string, args ...any) error {
	return fmt.Errorf("swapfs: %w: %s (use the disk whole only by forcing it)", ErrNotSwapSpace, fmt.Sprintf(format, args...))
}

func checkSwapPartition(p *partition.Device) (block.Device, error) {
	b, err := head(p, 2048)
	if err != nil {
		return nil, fmt.Errorf("swapfs: reading the swap partition's first sectors: %w", err)
	}
	if sig := fsSignature(b); sig != "" {
		return nil, refuse("swap partition %d holds %s", p.Entry().Index, sig)
	}
	return p, nil
}

// sigSpan is how much of a whole disk the signature checks look at: up
// to a 64 KiB page's swap signature.
const sigSpan = 64 << 10

// head reads the first n bytes of dev (fewer on a smaller device; whole
// sectors).
func head(dev block.Device, n int64) ([]byte, error) {
	info := dev.Info()
	ss := int64(info.SectorSize)
	if ss <= 0 {
		return nil, block.Errorf("read", 0, block.ErrUnaligned)
	}
	sectors := min((n+ss-1)/ss, info.Sectors)
	if sectors <= 0 {
		return nil, nil
	}
	b := make([]byte, sectors*ss)
	if err := dev.Read(0, b); err != nil {
		return nil, err
	}
	return b, nil
}

// wholeSignature names the known signature on a disk without a partition
// table, or returns "".
func wholeSignature(dev block.Device) (string, error) {
	b, err := head(dev, sigSpan)
	if err != nil {
		return "", err
	}
	switch {
	case imxIVT(b):
		return "an i.MX boot image (IVT at byte 1024)", nil
	case swapSignature(b) != "":
		return "a Linux " + swapSignature(b), nil
	}
	return fsSignature(b), nil
}

func fsSignature(b []byte) string {
	switch {
	case extSuperblock(b):
		return "an ext2/3/4 file system (superblock at byte 1024)"
	case fatBootSector(b):
		return "a FAT file system (boot sector)"
	}
	return ""
}

// imxIVT: the i.MX boot ROM's image vector table at byte 1024 of the
// boot medium (i.MX6UL reference manual, "Image Vector Table
// Structure"): tag 0xD1, length 0x0020 big-endian, version 0x40-0x43,
// then entry, reserved1, dcd, boot_data, self, csf and reserved2, the
// reserved words zero. Random bytes match with probability 2^-8 (tag) x
// 2^-16 (length) x 2^-6 (4 versions of 256) x 2^-32 x 2^-32 (the two
// reserved words) = 2^-94.
func imxIVT(b []byte) bool {
	if len(b) < 1024+32 {
		return false
	}
	ivt := b[1024:]
	return ivt[0] == 0xD1 && ivt[1] == 0x00 && ivt[2] == 0x20 && ivt[3] >= 0x40 && ivt[3] <= 0x43 &&
		binary.LittleEndian.Uint32(ivt[8:]) == 0 && binary.LittleEndian.Uint32(ivt[28:]) == 0
}

// extSuperblock: the ext2/3/4 superblock at byte 1024: s_magic 0xEF53 at
// offset 56, s_rev_level (offset 76) 0 or 1, s_log_block_size (offset
// 24) at most 6 (blocks of 1 KiB to 64 KiB). Random bytes match with
// probability 2^-16 x 2^-31 x 7·2^-32 < 2^-76.
func extSuperblock(b []byte) bool {
	if len(b) < 1024+80 {
		return false
	}
	sb := b[1024:]
	le := binary.LittleEndian
	return le.Uint16(sb[56:]) == 0xEF53 && le.Uint32(sb[76:]) <= 1 && le.Uint32(sb[24:]) <= 6
}

// fatBootSector: a FAT boot sector (Microsoft's FAT specification, "Boot
// Sector and BPB"): the 0x55AA signature at byte 510 (2^-16), a jump
// (0xEB xx 0x90 or 0xE9: about 2^-8), bytes per sector 512, 1024, 2048
// or 4096 (4 of 2^16: 2^-14), sectors per cluster a power of two (8 of
// 256: 2^-5), one or two FATs (2^-7), a media byte 0xF0 or 0xF8-0xFF (10
// of 256: over 2^-4.6): together below 2^-54.
func fatBootSector(b []byte) bool {
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
		return false
	}
	if !(b[0] == 0xEB && b[2] == 0x90 || b[0] == 0xE9) {
		return false
	}
	bps := binary.LittleEndian.Uint16(b[11:])
	spc := b[13]
	media := b[21]
	return (bps == 512 || bps == 1024 || bps == 2048 || bps == 4096) &&
		spc != 0 && spc&(spc-1) == 0 &&
		(b[16] == 1 || b[16] == 2) &&
		(media == 0xF0 || media >= 0xF8)
}

// swapMagics are Linux's swap and hibernation signatures, in the last
// bytes of the swap header's first page (util-linux libblkid's
// swap.c): each 9 or 10 bytes, so one check matches random bytes with
// probability 2^-72 or less, and the 4 page sizes x 6 signatures below
// 2^-67.
var swapMagics = []string{"SWAPSPACE2", "SWAP-SPACE", "S1SUSPEND", "S2SUSPEND", "ULSUSPEND", "LINHIB0001"}

func swapSignature(b []byte) string {
	for _, page := range []int{4096, 8192, 16384, 65536} {
		if len(b) < page {
			break
		}
		for _, m := range swapMagics {
			at := page - 10
			if string(b[at:at+len(m)]) == m {
				if m[1] == 'W' {
					return "swap signature (" + m + ")"
				}
				return "hibernation image (" + m + ")"
			}
		}
	}
	return ""
}
