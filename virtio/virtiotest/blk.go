package virtiotest

// serveBlk carries out one virtio-blk request (§5.2.6) whose buffers are
// segs: the device-readable part starts with struct virtio_blk_req's
// header, the device-writable part ends with its status byte. It writes
// the status byte and returns it, with the number of device-writable
// bytes, which is what QEMU reports as the used length. A chain too short
// to be a request is a fault ("virtio-blk missing headers").
func (d *Device) serveBlk(segs []segment) (status byte, written uint32, fault string) {
	nr := 0 // readable segments come first
	for nr < len(segs) && !segs[nr].write {
		nr++
	}
	out, in := segs[:nr], segs[nr:]
	if len(out) == 0 || len(in) == 0 {
		return 0, 0, "virtio-blk request without header or status buffer"
	}
	outLen, inLen := segsLen(out), segsLen(in)
	if outLen < blkReqHeaderSize {
		return 0, 0, "virtio-blk request header too short"
	}
	var hdr [blkReqHeaderSize]byte
	readSegs(hdr[:], out, 0)
	typ, sector := get32(hdr[0:]), get64(hdr[8:])

	// The data: after the header in the readable part, before the status
	// byte in the writable part.
	dataOut := outLen - blkReqHeaderSize
	dataIn := inLen - 1

	switch typ {
	case blkTIn:
		status = d.rw(false, sector, in, 0, dataIn)
	case blkTOut:
		status = d.rw(true, sector, out, blkReqHeaderSize, dataOut)
	case blkTFlush:
		status = blkSUnsupp
		if d.offered&bit(featBlkFlush) != 0 {
			status = blkSOK // a block.Mem has nothing to flush
		}
	case blkTGetID:
		// A NUL-padded string of up to 20 bytes, cut to the buffer.
		n := min(dataIn, blkIDBytes)
		writeSegs(in, 0, d.serial[:n])
		status = blkSOK
	case blkTDiscard, blkTWriteZeroes:
		var f string
		status, f = d.discardWriteZeroes(typ == blkTWriteZeroes, out, dataOut)
		if f != "" {
			return 0, 0, f
		}
	default:
		status = blkSUnsupp
	}
	last := in[len(in)-1].buf
	store8(last, len(last)-1, status)
	return status, uint32(inLen), ""
}

// rw serves a read (write=false: data goes to the n bytes of segs after
// skip) or a write (data comes from there).
func (d *Device) rw(write bool, sector uint64, segs []segment, skip, n uint64) byte {
	if !d.withinLimits(segs, skip, n) {
		d.limitErrors.Add(1)
		return blkSIOErr
	}
	if !d.rangeOK(sector, n) {
		return blkSIOErr
	}
	if write && !d.disk.Info().ReadWrite {
		// §5.2.6.2: a write to a VIRTIO_BLK_F_RO device fails, and
		// nothing is written.
		return blkSIOErr
	}
	if d.cfg.FailIO != nil && d.cfg.FailIO(write, int64(sector)) {
		return blkSIOErr
	}
	disk := d.disk.Bytes()[sector<<sectorShift:][:n]
	if write {
		readSegs(disk, segs, skip)
	} else {
		writeSegs(segs, skip, disk)
	}
	return blkSOK
}

// withinLimits enforces seg_max and size_max where the device offers them:
// the data of a request may use at most seg_max buffers, each at most
// size_max bytes (§5.2.4). QEMU does not check these; the model does, so
// that tests see a driver that does not split requests.
func (d *Device) withinLimits(segs []segment, skip, n uint64) bool {
	checkSeg := d.offered&bit(featBlkSegMax) != 0
	checkSize := d.offered&bit(featBlkSizeMax) != 0
	if !checkSeg && !checkSize || n == 0 {
		return true
	}
	var nseg uint32
	off := uint64(0) // offset of seg in the concatenation
	for _, s := range segs {
		l := uint64(len(s.buf))
		lo, hi := max(off, skip), min(off+l, skip+n)
		off += l
		if lo >= hi {
			continue // no data bytes in this buffer
		}
		nseg++
		if checkSize && hi-lo > uint64(d.sizeMax) {
			return false
		}
	}
	return !checkSeg || nseg <= d.segMax
}

// rangeOK reports whether n bytes at the 512-byte sector fit the disk and
// keep its alignment: QEMU's virtio_blk_sect_range_ok. With blk_size
// larger than 512 the sector and length must be multiples of it.
func (d *Device) rangeOK(sector, n uint64) bool {
	mask := uint64(d.blkSize>>sectorShift) - 1
	nsec := n >> sectorShift
	return nsec <= qemuMaxRequestSectors && sector&mask == 0 && n%uint64(d.blkSize) == 0 &&
		sector <= d.capacity && nsec <= d.capacity-sector
}

// discardWriteZeroes serves VIRTIO_BLK_T_DISCARD and _WRITE_ZEROES, whose
// data is struct virtio_blk_discard_write_zeroes segments (§5.2.6). The
// checks and their order are QEMU's; every segment is checked before any
// is carried out.
func (d *Device) discardWriteZeroes(wz bool, out []segment, n uint64) (byte, string) {
	feat, maxSeg := uint(featBlkDiscard), uint64(get32(d.config[cfgMaxDiscardSeg:]))
	maxSectors := get32(d.config[cfgMaxDiscardSectors:])
	if wz {
		feat, maxSeg = featBlkWriteZeroes, uint64(get32(d.config[cfgMaxWZSeg:]))
		maxSectors = get32(d.config[cfgMaxWZSectors:])
	}
	if d.offered&bit(feat) == 0 {
		return blkSUnsupp, ""
	}
	if n < blkDWZSize {
		return 0, "virtio-blk discard/write_zeroes header too short"
	}
	if n%blkDWZSize != 0 || n/blkDWZSize > maxSeg {
		return blkSUnsupp, ""
	}
	var seg [blkDWZSize]byte
	for off := uint64(0); off < n; off += blkDWZSize {
		readSegs(seg[:], out, blkReqHeaderSize+off)
		sector, num, flags := get64(seg[0:]), get32(seg[8:]), get32(seg[12:])
		switch {
		case num > maxSectors:
			return blkSIOErr, ""
		case !d.rangeOK(sector, uint64(num)<<sectorShift):
			return blkSIOErr, ""
		case flags&^blkDWZUnmap != 0:
			return blkSUnsupp, "" // §5.2.6.2: unknown flags
		case !wz && flags&blkDWZUnmap != 0:
			return blkSUnsupp, "" // §5.2.6.2: unmap in a discard
		case !d.disk.Info().ReadWrite:
			return blkSIOErr, ""
		case d.cfg.FailIO != nil && d.cfg.FailIO(true, int64(sector)):
			return blkSIOErr, ""
		}
	}
	for off := uint64(0); off < n; off += blkDWZSize {
		readSegs(seg[:], out, blkReqHeaderSize+off)
		sector, num := get64(seg[0:]), uint64(get32(seg[8:]))
		// Discarded sectors read back as zeroes, as block.Mem's do.
		clear(d.disk.Bytes()[sector<<sectorShift:][:num<<sectorShift])
	}
	return blkSOK, ""
}

func segsLen(segs []segment) uint64 {
	var n uint64
	for _, s := range segs {
		n += uint64(len(s.buf))
	}
	return n
}

// readSegs copies into dst the bytes of segs starting at offset skip of
// their concatenation.
func readSegs(dst []byte, segs []segment, skip uint64) {
	for _, s := range segs {
		if len(dst) == 0 {
			return
		}
		if skip >= uint64(len(s.buf)) {
			skip -= uint64(len(s.buf))
			continue
		}
		dst = dst[copy(dst, s.buf[skip:]):]
		skip = 0
	}
}

// writeSegs copies src into segs starting at offset skip of their
// concatenation.
func writeSegs(segs []segment, skip uint64, src []byte) {
	for _, s := range segs {
		if len(src) == 0 {
			return
		}
		if skip >= uint64(len(s.buf)) {
			skip -= uint64(len(s.buf))
			continue
		}
		src = src[copy(s.buf[skip:], src):]
		skip = 0
	}
}
