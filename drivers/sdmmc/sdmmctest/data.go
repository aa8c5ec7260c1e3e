package sdmmctest

// ReadData moves the next len(p) bytes (one block) of a read from the
// card: disk blocks after CMD17/18, register data after CMD6, CMD8
// (eMMC) or ACMD51.
func (c *Card) ReadData(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fault.DataTimeout || c.fault.NoResponse {
		return ErrDataTimeout
	}
	if c.fault.DataTimeoutOnce {
		c.fault.DataTimeoutOnce = false
		return ErrDataTimeout
	}
	if c.state != stData || c.xfer.write || c.xfer.left == 0 {
		return ErrNotData
	}
	if c.xfer.reg != nil {
		n := copy(p, c.xfer.reg)
		clear(p[n:])
		c.endTransfer()
		return c.crcFault(p)
	}
	if err := c.inRange(len(p)); err != nil {
		return err
	}
	c.readAt(p, c.xfer.base+c.xfer.addr)
	if c.fault.ECC && c.xfer.addr <= c.fault.ECCSector*512 && c.fault.ECCSector*512 < c.xfer.addr+int64(len(p)) {
		// Uncorrectable: the card sends what it has (garbage) with a
		// good CRC and says so in the next status.
		for i := range p {
			p[i] ^= 0xa5
		}
		c.status |= stsCardECCFailed
	}
	c.advance(len(p))
	return c.crcFault(p)
}

// WriteData moves the next block of a write to the card. A block that
// fails its CRC is not written.
func (c *Card) WriteData(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fault.DataTimeout || c.fault.NoResponse {
		return ErrDataTimeout
	}
	if c.fault.DataTimeoutOnce {
		c.fault.DataTimeoutOnce = false
		return ErrDataTimeout
	}
	if c.state != stRcv || !c.xfer.write || c.xfer.left == 0 {
		return ErrNotData
	}
	if err := c.inRange(len(p)); err != nil {
		return err
	}
	if err := c.crcFault(nil); err != nil {
		return err
	}
	c.writeAt(p, c.xfer.base+c.xfer.addr)
	c.advance(len(p))
	return nil
}

// inRange checks that the next n bytes of the transfer lie on the card:
// a multiple-block transfer that runs off the end sets OUT_OF_RANGE and
// stops sending.
func (c *Card) inRange(n int) error {
	if c.xfer.addr+int64(n) > c.cfg.Size {
		c.status |= stsOutOfRange
		return ErrDataTimeout
	}
	return nil
}

// advance moves the transfer past a block and ends it after the last.
func (c *Card) advance(n int) {
	c.xfer.addr += int64(n)
	if c.xfer.left > 0 {
		if c.xfer.left--; c.xfer.left == 0 {
			c.endTransfer()
		}
	}
}

// crcFault counts a data block and fails every DataCRCEvery'th, garbling
// read data as a bad line would.
func (c *Card) crcFault(p []byte) error {
	c.blocks++
	if c.fault.DataCRCOnce {
		c.fault.DataCRCOnce = false
		if len(p) > 0 {
			p[0] ^= 0xff
		}
		return ErrDataCRC
	}
	if n := c.fault.DataCRCEvery; n > 0 && c.blocks%n == 0 {
		if len(p) > 0 {
			p[0] ^= 0xff
		}
		return ErrDataCRC
	}
	return nil
}

func (c *Card) readAt(p []byte, off int64) {
	for len(p) > 0 {
		ch, in := off/chunk, int(off%chunk)
		n := min(len(p), chunk-in)
		if b := c.data[ch]; b != nil {
			copy(p[:n], b[in:])
		} else {
			clear(p[:n])
		}
		p, off = p[n:], off+int64(n)
	}
}

func (c *Card) writeAt(p []byte, off int64) {
	for len(p) > 0 {
		ch, in := off/chunk, int(off%chunk)
		n := min(len(p), chunk-in)
		b := c.data[ch]
		if b == nil {
			b = make([]byte, chunk)
			c.data[ch] = b
		}
		copy(b[in:], p[:n])
		p, off = p[n:], off+int64(n)
	}
}

// erase clears [from, to): to zeroes, or ones when the SCR says so. TRIM
// and erase read back the same way here.
func (c *Card) erase(from, to int64, _ bool) {
	c.erases++
	fill := byte(0)
	if c.cfg.EraseOnes {
		fill = 0xff
	}
	for off := from; off < to; {
		ch, in := off/chunk, int(off%chunk)
		n := int(min(int64(chunk-in), to-off))
		b := c.data[ch]
		switch {
		case fill == 0 && in == 0 && n == chunk:
			delete(c.data, ch)
		case fill == 0 && b == nil:
		default:
			if b == nil {
				b = make([]byte, chunk)
				c.data[ch] = b
			}
			for i := in; i < in+n; i++ {
				b[i] = fill
			}
		}
		off += int64(n)
	}
}

// ReadAt reads the card's storage directly (as the host would inspect an
// image), for tests.
func (c *Card) ReadAt(p []byte, off int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readAt(p, off)
}

// WriteAt writes the card's storage directly, for tests.
func (c *Card) WriteAt(p []byte, off int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeAt(p, off)
}
