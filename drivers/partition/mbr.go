package partition

import (
	"encoding/binary"
	"slices"
)

// The MBR's layout: four 16-byte entries at byte 446, the signature 0x55
// 0xAA at byte 510 of the first 512 bytes of sector 0. An extended boot
// record has the same layout: entry 1 is a logical partition relative to
// the record's own LBA, entry 2 links the next record, relative to the
// extended partition's start.
const (
	mbrEntries   = 446
	mbrEntrySize = 16
	mbrSigOff    = 510
)

type mbrEntry struct {
	status, typ  byte
	start, count uint32
}

// parseMBR returns the four entries of an MBR in s (at least 512 bytes),
// or false when s is not one: no 0x55AA signature, or a boot indicator
// other than 0x00 and 0x80 (Linux's msdos parser's test, which tells a
// FAT boot sector from a partition table).
func parseMBR(s []byte) ([4]mbrEntry, bool) {
	var e [4]mbrEntry
	if s[mbrSigOff] != 0x55 || s[mbrSigOff+1] != 0xAA {
		return e, false
	}
	for i := range e {
		b := s[mbrEntries+i*mbrEntrySize:]
		e[i] = mbrEntry{
			status: b[0],
			typ:    b[4],
			start:  binary.LittleEndian.Uint32(b[8:12]),
			count:  binary.LittleEndian.Uint32(b[12:16]),
		}
		if e[i].status != 0 && e[i].status != 0x80 {
			return e, false
		}
	}
	return e, true
}

func (e mbrEntry) empty() bool { return e.typ == 0 || e.count == 0 }

// span is an entry's range for the overlap check.
type span struct {
	index        int
	start, count int64
	extended     bool
}

func (r *reader) mbr(t *Table, entries [4]mbrEntry) error {
	var prim []span
	ext := -1
	for i, e := range entries {
		if e.empty() {
			continue
		}
		s := span{index: i + 1, start: int64(e.start), count: int64(e.count), extended: isExtended(e.typ)}
		if s.start == 0 {
			return invalid("mbr entry %d starts at LBA 0, the MBR itself", s.index)
		}
		if s.start+s.count > r.sectors { // each term < 2^32: no overflow
			return invalid("mbr entry %d (LBA %d, %d sectors) runs past the end of the disk (%d sectors)", s.index, s.start, s.count, r.sectors)
		}
		if s.extended {
			if ext >= 0 {
				return invalid("mbr entries %d and %d are both extended partitions", prim[ext].index, s.index)
			}
			ext = len(prim)
		} else {
			t.Partitions = append(t.Partitions, Entry{Index: s.index, Start: s.start, Sectors: s.count, MBRType: e.typ})
		}
		prim = append(prim, s)
	}
	if ext < 0 {
		return checkOverlap("mbr", prim)
	}
	extSpan := prim[ext]
	if err := checkOverlap("mbr", prim); err != nil {
		return err
	}
	logical, err := r.logical(t, extSpan)
	if err != nil {
		return err
	}
	return checkOverlap("mbr", logical)
}

// logical follows the extended partition's chain of extended boot
// records. Each must lie strictly after the one before it and inside the
// extended partition, and there are at most MaxLogical: a chain that
// loops or runs on ends with an error.
func (r *reader) logical(t *Table, ext span) ([]span, error) {
	var spans []span
	end := ext.start + ext.count
	ebr := ext.start
	index := 5
	for n := 0; ; n++ {
		if n == MaxLogical {
			return nil, invalid("mbr extended partition %d: more than %d extended boot records", ext.index, MaxLogical)
		}
		s, err := r.sector(ebr)
		if err != nil {
			return nil, err
		}
		if s[mbrSigOff] != 0x55 || s[mbrSigOff+1] != 0xAA {
			return nil, invalid("mbr extended boot record at LBA %d (before logical partition %d) has no 0x55AA signature", ebr, index)
		}
		var e [2]mbrEntry
		for i := range e {
			b := s[mbrEntries+i*mbrEntrySize:]
			e[i] = mbrEntry{typ: b[4], start: binary.LittleEndian.Uint32(b[8:12]), count: binary.LittleEndian.Uint32(b[12:16])}
		}
		if !e[0].empty() {
			if isExtended(e[0].typ) {
				return nil, invalid("mbr logical partition %d (record at LBA %d) is itself an extended partition", index, ebr)
			}
			start := ebr + int64(e[0].start)
			if e[0].start == 0 || start+int64(e[0].count) > end {
				return nil, invalid("mbr logical partition %d (LBA %d, %d sectors) lies outside its extended partition %d (LBA %d-%d)", index, start, e[0].count, ext.index, ext.start+1, end-1)
			}
			t.Partitions = append(t.Partitions, Entry{Index: index, Start: start, Sectors: int64(e[0].count), MBRType: e[0].typ})
			spans = append(spans, span{index: index, start: start, count: int64(e[0].count)})
			index++
		}
		if e[1].empty() || !isExtended(e[1].typ) {
			return spans, nil
		}
		next := ext.start + int64(e[1].start)
		if next <= ebr || next >= end {
			return nil, invalid("mbr extended boot record at LBA %d links to LBA %d: not after it inside extended partition %d", ebr, next, ext.index)
		}
		ebr = next
	}
}

// checkOverlap says which two entries overlap, if any. An extended
// partition contains its logical ones and is checked against primaries
// only.
func checkOverlap(scheme string, s []span) error {
	slices.SortFunc(s, func(a, b span) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return a.index - b.index
	})
	for i := 1; i < len(s); i++ {
		a, b := s[i-1], s[i]
		if b.start < a.start+a.count {
			return invalid("%s entries %d (LBA %d, %d sectors) and %d (LBA %d, %d sectors) overlap", scheme, a.index, a.start, a.count, b.index, b.start, b.count)
		}
	}
	return nil
}
