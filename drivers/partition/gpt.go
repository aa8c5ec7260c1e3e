package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The GPT header's fields (UEFI 2.10, table 5.21), at their byte offsets.
const (
	gptSignature   = "EFI PART"
	hdrRevision    = 8
	hdrSize        = 12
	hdrCRC         = 16
	hdrReserved    = 20
	hdrMyLBA       = 24
	hdrAlternate   = 32
	hdrFirstUsable = 40
	hdrLastUsable  = 48
	hdrDiskGUID    = 56
	hdrEntryLBA    = 72
	hdrNumEntries  = 80
	hdrEntrySize   = 84
	hdrArrayCRC    = 88
	hdrMinSize     = 92
)

// The fields of a GPT entry (UEFI 2.10, table 5.22).
const (
	entType  = 0
	entID    = 16
	entFirst = 32
	entLast  = 40
)

// gptChunk is the most of the entry array read at once.
const gptChunk = 16 << 10

// gptHeader is a header that passed its checks.
type gptHeader struct {
	lba                     int64
	firstUsable, lastUsable int64
	entryLBA                int64
	numEntries, entrySize   uint32
	arraySectors            int64
	arrayCRC                uint32
}

// gpt reads the primary header and array, else the backup ones.
func (r *reader) gpt(t *Table) error {
	last := r.sectors - 1
	err := r.gptAt(t, 1)
	if err == nil {
		return nil
	}
	var ioErr ioError
	if errors.As(err, &ioErr) {
		return ioErr.err
	}
	if last <= 1 {
		return fmt.Errorf("gpt primary: %w", err)
	}
	t.Partitions = t.Partitions[:0]
	berr := r.gptAt(t, last)
	if berr != nil {
		if errors.As(berr, &ioErr) {
			return ioErr.err
		}
		return fmt.Errorf("gpt primary: %w; gpt backup at LBA %d: %w", err, last, berr)
	}
	t.Backup, t.PrimaryErr = true, err
	return nil
}

// ioError marks a device error, which is returned as is rather than
// taken for a bad primary.
type ioError struct{ err error }

func (e ioError) Error() string { return e.err.Error() }

// gptAt reads and checks the header at lba (1: primary; the last LBA:
// backup) and its entry array, and fills t.
func (r *reader) gptAt(t *Table, lba int64) error {
	s, err := r.sector(lba)
	if err != nil {
		return ioError{err}
	}
	h, err := r.header(s, lba)
	if err != nil {
		return err
	}
	t.HeaderLBA = lba
	return r.entries(t, h)
}

func (r *reader) header(s []byte, lba int64) (gptHeader, error) {
	var h gptHeader
	le := binary.LittleEndian
	if string(s[0:8]) != gptSignature {
		return h, invalid("header at LBA %d: no %q signature", lba, gptSignature)
	}
	size := le.Uint32(s[hdrSize:])
	if size < hdrMinSize || uint64(size) > uint64(r.ss) {
		return h, invalid("header at LBA %d: header size %d (%d to %d)", lba, size, hdrMinSize, r.ss)
	}
	// The CRC32 of the header's size bytes with its own field as zero.
	var zero [4]byte
	crc := crc32.Update(0, crc32.IEEETable, s[:hdrCRC])
	crc = crc32.Update(crc, crc32.IEEETable, zero[:])
	crc = crc32.Update(crc, crc32.IEEETable, s[hdrCRC+4:size])
	if want := le.Uint32(s[hdrCRC:]); crc != want {
		return h, invalid("header at LBA %d: CRC32 %#08x, header says %#08x", lba, crc, want)
	}
	last := uint64(r.sectors - 1)
	my := le.Uint64(s[hdrMyLBA:])
	alt := le.Uint64(s[hdrAlternate:])
	first := le.Uint64(s[hdrFirstUsable:])
	lastU := le.Uint64(s[hdrLastUsable:])
	entryLBA := le.Uint64(s[hdrEntryLBA:])
	h.numEntries = le.Uint32(s[hdrNumEntries:])
	h.entrySize = le.Uint32(s[hdrEntrySize:])
	h.arrayCRC = le.Uint32(s[hdrArrayCRC:])
	es := h.entrySize
	switch {
	case my != uint64(lba):
		return h, invalid("header at LBA %d says it is at LBA %d", lba, my)
	case es < 128 || es > MaxGPTEntrySize || es&(es-1) != 0:
		return h, invalid("header at LBA %d: entry size %d (128 x 2^n, at most %d)", lba, es, MaxGPTEntrySize)
	case uint64(h.numEntries)*uint64(es) > MaxGPTArray:
		return h, invalid("header at LBA %d: %d entries of %d bytes exceed %d bytes", lba, h.numEntries, es, MaxGPTArray)
	case first > lastU || lastU >= last:
		return h, invalid("header at LBA %d: usable LBAs %d-%d do not fit a disk of %d sectors", lba, first, lastU, r.sectors)
	}
	arrayBytes := int64(h.numEntries) * int64(es)
	h.arraySectors = (arrayBytes + int64(r.ss) - 1) / int64(r.ss)
	as := uint64(h.arraySectors)
	if lba == 1 {
		// Primary: MBR, header, then the array, all before the first
		// usable LBA; the backup's header and array after the last.
		switch {
		case entryLBA < 2 || entryLBA > last || entryLBA+as > first:
			return h, invalid("primary header: entry array at LBA %d (%d sectors) is not between the header and the first usable LBA %d", entryLBA, as, first)
		case alt <= lastU || alt > last:
			return h, invalid("primary header: backup at LBA %d, not after the last usable LBA %d on a disk of %d sectors", alt, lastU, r.sectors)
		case lastU+as >= alt:
			return h, invalid("primary header: last usable LBA %d leaves no room for the backup's %d-sector array before LBA %d", lastU, as, alt)
		}
	} else {
		// Backup: the array between the last usable LBA and the
		// header; the primary's header and array before the first.
		switch {
		case entryLBA <= lastU || entryLBA+as > uint64(lba):
			return h, invalid("backup header: entry array at LBA %d (%d sectors) is not between the last usable LBA %d and the header", entryLBA, as, lastU)
		case first < 2+as:
			return h, invalid("backup header: first usable LBA %d leaves no room for the primary's %d-sector array", first, as)
		}
	}
	h.lba, h.firstUsable, h.lastUsable, h.entryLBA = lba, int64(first), int64(lastU), int64(entryLBA)
	return h, nil
}

// entries reads the entry array in pieces of at most gptChunk bytes:
// once to check its CRC32, then again to keep the used entries, each
// inside the usable LBAs and overlapping no other, so that a corrupt
// array is reported as such rather than by the first odd entry in it.
func (r *reader) entries(t *Table, h gptHeader) error {
	chunk := max(gptChunk/r.ss, 1)
	buf := r.buf
	if chunk > 1 && h.arraySectors > 1 {
		buf = make([]byte, min(int64(chunk), h.arraySectors)*int64(r.ss))
	}
	var crc uint32
	err := r.array(h, buf, func(b []byte) error {
		crc = crc32.Update(crc, crc32.IEEETable, b)
		return nil
	})
	if err != nil {
		return err
	}
	if crc != h.arrayCRC {
		return invalid("entry array at LBA %d: CRC32 %#08x, header says %#08x", h.entryLBA, crc, h.arrayCRC)
	}
	var spans []span
	slot := 0
	err = r.array(h, buf, func(b []byte) error {
		for ; len(b) >= int(h.entrySize); b = b[h.entrySize:] {
			slot++
			var typ GUID
			copy(typ[:], b[entType:])
			if typ.IsZero() {
				continue
			}
			first := binary.LittleEndian.Uint64(b[entFirst:])
			last := binary.LittleEndian.Uint64(b[entLast:])
			if first > last {
				return invalid("gpt entry %d: first LBA %d after last LBA %d", slot, first, last)
			}
			// The usable LBAs exclude the MBR, both headers and both
			// arrays, and end before the disk does.
			if first < uint64(h.firstUsable) || last > uint64(h.lastUsable) {
				return invalid("gpt entry %d (LBA %d-%d) lies outside the usable LBAs %d-%d: in the table's own sectors or past the end of the disk", slot, first, last, h.firstUsable, h.lastUsable)
			}
			e := Entry{Index: slot, Start: int64(first), Sectors: int64(last-first) + 1, Type: typ}
			copy(e.ID[:], b[entID:])
			t.Partitions = append(t.Partitions, e)
			spans = append(spans, span{index: slot, start: e.Start, count: e.Sectors})
		}
		return nil
	})
	if err == nil {
		err = checkOverlap("gpt", spans)
	}
	if err != nil {
		t.Partitions = nil
	}
	return err
}

// array calls f with the entry array's bytes, a whole number of entries
// at a time (buf is a multiple of both the sector and the entry size, or
// one sector of at least one entry).
func (r *reader) array(h gptHeader, buf []byte, f func([]byte) error) error {
	remaining := int64(h.numEntries) * int64(h.entrySize)
	for lba := h.entryLBA; remaining > 0; {
		n := min(int64(len(buf)/r.ss), h.arraySectors-(lba-h.entryLBA))
		b := buf[:n*int64(r.ss)]
		if err := r.dev.Read(lba, b); err != nil {
			return ioError{err}
		}
		lba += n
		b = b[:min(int64(len(b)), remaining)]
		remaining -= int64(len(b))
		if err := f(b); err != nil {
			return err
		}
	}
	return nil
}
