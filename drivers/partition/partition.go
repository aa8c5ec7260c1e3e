// Package partition reads a disk's partition table, MBR or GPT, and gives
// each partition as a block.Device over its range of the disk, as Linux's
// block/partitions sits apart from its disk drivers: it knows nothing of
// virtio, SD cards or boards.
//
// # Formats
//
// MBR (the IBM PC partition table in sector 0): the four primary entries,
// and the logical partitions of an extended partition (types 0x05, 0x0F,
// 0x85), found by following its chain of extended boot records. Primary
// entries are numbered 1 to 4 by their slot and logical partitions from 5
// in chain order, as Linux names them (sda5, mmcblk0p5). A sector 0 with
// the 0x55AA signature is an MBR only if every entry's boot indicator is
// 0x00 or 0x80, as Linux's msdos parser decides (otherwise it is the boot
// sector of a FAT file system, or not a table at all).
//
// GPT (UEFI 2.10, chapter 5.3): an MBR entry of type 0xEE (the protective
// MBR) says the disk is GPT. The primary header is at LBA 1, its entry
// array where the header says; both CRC32s are checked, and the header's
// fields against the disk and each other. When the primary header or its
// array is unusable, the backup header at the disk's last LBA and its
// array are read instead; Table.Backup says so, with the primary's fault
// in Table.PrimaryErr. Nothing is ever written: repairing a table is the
// job of the tools that wrote it (sgdisk, fdisk). Entries are numbered by
// their slot in the array, from 1, as Linux does. A GPT header at LBA 1
// with no protective MBR is an error, not a whole disk.
//
// Both formats use the disk's logical sector size (Info.SectorSize, 512
// or 4096 bytes, or any power of two from 512): LBAs, the GPT header and
// the entry array are in those sectors, and the MBR is the first 512
// bytes of sector 0.
//
// # A table is hostile input
//
// What a table claims never causes a panic, a hang, or an allocation
// proportional to the claim. Read allocates a constant amount besides
// the partitions it returns: a GPT entry array of more than MaxGPTArray
// bytes is an error, and the array is read and checked in pieces of at
// most 16 KiB; an extended partition's chain is followed for at most
// MaxLogical records, each strictly after the one before it, so a chain
// that loops ends. Entries that overlap, run past the end of the disk,
// or (GPT) lie outside the header's usable range or in the table's own
// sectors are errors that name the entry (ErrInvalid).
//
// # Library or own code
//
// This is own code on the standard library, not go-diskfs's
// partition/mbr and partition/gpt (v1.9.4 builds for GOOS=tamago): those
// pull logrus, xz, lz4 and more into every image that reads a table, read
// through a file-like backend (io.ReaderAt plus seeking and a size) where
// this package needs a block.Device and its sector size, and allocate the
// entry array as the header claims. What a swap manager needs — find the
// partitions, check the CRCs, refuse what is inconsistent, never write —
// is a few hundred lines that the fuzz targets here cover on every
// architecture and under TamaGo as any other package of ours.
package partition

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// Scheme is a kind of partition table.
type Scheme int

const (
	None Scheme = iota // no partition table
	MBR                // IBM PC partition table
	GPT                // GUID partition table
)

// String names the scheme: "none", "mbr" or "gpt".
func (s Scheme) String() string {
	switch s {
	case MBR:
		return "mbr"
	case GPT:
		return "gpt"
	}
	return "none"
}

// GUID is a GUID as stored in a GPT: the first three fields
// little-endian.
type GUID [16]byte

// String returns the GUID in the usual text form, lower case.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]), binary.LittleEndian.Uint16(g[6:8]),
		g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15])
}

// IsZero says whether g is all zeroes (an unused GPT entry).
func (g GUID) IsZero() bool { return g == GUID{} }

// LinuxSwapGUID is the GPT partition type of Linux swap,
// 0657FD6D-A4AB-43C4-84E5-0933C84B4F4F.
var LinuxSwapGUID = GUID{0x6d, 0xfd, 0x57, 0x06, 0xab, 0xa4, 0xc4, 0x43, 0x84, 0xe5, 0x09, 0x33, 0xc8, 0x4b, 0x4f, 0x4f}

// MBRLinuxSwap is the MBR partition type of Linux swap.
const MBRLinuxSwap = 0x82

// MBR partition types with a meaning to this package.
const (
	mbrProtective    = 0xEE
	mbrExtended      = 0x05
	mbrExtendedLBA   = 0x0F
	mbrExtendedLinux = 0x85
)

func isExtended(t byte) bool {
	return t == mbrExtended || t == mbrExtendedLBA || t == mbrExtendedLinux
}

// Entry is one partition. Start and Sectors are in the disk's sectors.
type Entry struct {
	Index   int   // 1-4 MBR primary, 5- MBR logical, 1- GPT slot
	Start   int64 // first sector
	Sectors int64 // length in sectors, at least 1
	MBRType byte  // MBR: the partition type; GPT: 0
	Type    GUID  // GPT: the partition type GUID; MBR: zero
	ID      GUID  // GPT: the partition's unique GUID; MBR: zero
}

// IsSwap says whether the entry's type is Linux swap (GPT
// 0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, MBR 0x82).
func (e Entry) IsSwap() bool {
	if e.MBRType != 0 {
		return e.MBRType == MBRLinuxSwap
	}
	return e.Type == LinuxSwapGUID
}

// TypeName names the entry's type as the shell prints it: linux-swap for
// a swap partition, else the GPT type GUID in lower case, or mbr-0xNN.
func (e Entry) TypeName() string {
	switch {
	case e.IsSwap():
		return "linux-swap"
	case e.MBRType != 0:
		return fmt.Sprintf("mbr-0x%02x", e.MBRType)
	}
	return e.Type.String()
}

// Table is a disk's partition table as Read found it.
type Table struct {
	Scheme     Scheme  // None: no table, and no partitions
	SectorSize int     // the disk's logical sector size
	Sectors    int64   // the disk's size in sectors
	Partitions []Entry // in table order: MBR primaries, then logical ones; GPT by slot
	// Backup is set when a GPT was read from its backup header at the
	// disk's last LBA because the primary was unusable; PrimaryErr says
	// why. The primary is not repaired.
	Backup     bool
	PrimaryErr error
	HeaderLBA  int64 // GPT: the LBA of the header used
}

// Swap returns the first partition whose type is Linux swap.
func (t *Table) Swap() (Entry, bool) {
	for _, e := range t.Partitions {
		if e.IsSwap() {
			return e, true
		}
	}
	return Entry{}, false
}

// Lookup returns the partition numbered index.
func (t *Table) Lookup(index int) (Entry, bool) {
	for _, e := range t.Partitions {
		if e.Index == index {
			return e, true
		}
	}
	return Entry{}, false
}

// Errors of Read. ErrInvalid comes wrapped with the entry or field at
// fault; I/O errors come as the device returned them.
var (
	ErrInvalid     = errors.New("invalid partition table")
	ErrUnsupported = errors.New("unsupported partition table")
)

// Limits on what a table may claim.
const (
	// MaxGPTArray bounds a GPT entry array: 1 MiB, 8192 entries of 128
	// bytes (UEFI's minimum is 16 KiB; sgdisk and fdisk write 16 KiB).
	MaxGPTArray = 1 << 20
	// MaxGPTEntrySize bounds one GPT entry (128 × 2^n bytes).
	MaxGPTEntrySize = 4096
	// MaxLogical bounds the extended boot records followed in an MBR's
	// extended partition.
	MaxLogical = 128
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Read reads dev's partition table. A disk without one gives a Table of
// Scheme None and no error; a table that is invalid (ErrInvalid, saying
// which entry or field), unsupported, or unreadable gives a nil Table
// and the error. Read only reads.
func Read(dev block.Device) (*Table, error) {
	info := dev.Info()
	ss := info.SectorSize
	if ss < 512 || ss&(ss-1) != 0 || ss > 1<<16 {
		return nil, fmt.Errorf("%w: sector size %d (512 to 65536, a power of two)", ErrUnsupported, ss)
	}
	t := &Table{SectorSize: ss, Sectors: info.Sectors}
	if info.Sectors < 1 {
		return t, nil
	}
	r := &reader{dev: dev, ss: ss, sectors: info.Sectors, buf: make([]byte, ss)}
	s0, err := r.sector(0)
	if err != nil {
		return nil, err
	}
	mbr, ok := parseMBR(s0)
	if !ok {
		// No MBR: but a GPT header without its protective MBR is
		// still a GPT disk, never a blank one.
		if info.Sectors > 1 {
			s1, err := r.sector(1)
			if err != nil {
				return nil, err
			}
			if string(s1[0:8]) == gptSignature {
				return nil, invalid("GPT header at LBA 1 without a protective MBR")
			}
		}
		return t, nil
	}
	t.Scheme = MBR
	for _, e := range mbr {
		if e.typ == mbrProtective {
			t.Scheme = GPT
		}
	}
	if t.Scheme == GPT {
		err = r.gpt(t)
	} else {
		err = r.mbr(t, mbr)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// reader reads single sectors into its one buffer.
type reader struct {
	dev     block.Device
	ss      int
	sectors int64
	buf     []byte
}

func (r *reader) sector(lba int64) ([]byte, error) {
	if err := r.dev.Read(lba, r.buf); err != nil {
		return nil, err
	}
	return r.buf, nil
}
