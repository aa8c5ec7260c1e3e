package virtiotest

import "math/bits"

// mmioRead and mmioWrite serve the virtio-mmio register window (§4.2.2;
// §4.2.4 for version 1). As in QEMU, registers below the configuration space take
// only aligned 32-bit accesses; anything else is ignored (reads give 0)
// and counted as a bad access.
func (d *Device) mmioRead(off uint32, size int) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.transport.pci() || off >= mmioWindowSize || off%uint32(size) != 0 {
		d.bad("mmio", off, size, false)
		return 0
	}
	if off >= mmioConfig {
		return d.configRead(off-mmioConfig, size)
	}
	if size != 4 {
		d.bad("mmio", off, size, false) // QEMU: "wrong size access to register!"
		return 0
	}
	legacy := d.transport == MMIOLegacy
	q := d.selected()
	switch off {
	case mmioMagicValue:
		return mmioMagic
	case mmioVersion:
		if legacy {
			return 1
		}
		return 2
	case mmioDeviceID:
		return 2 // block device (§5.2.1)
	case mmioVendorID:
		return qemuVendor
	case mmioDeviceFeatures:
		return uint64(d.deviceFeatures(d.dfSel))
	case mmioQueueNumMax:
		if q == nil {
			return 0 // no such queue
		}
		return uint64(d.queueMax)
	case mmioQueuePFN:
		if legacy {
			if q == nil {
				return 0
			}
			return uint64(q.pfn)
		}
	case mmioQueueReady:
		if !legacy {
			if q != nil && q.ready {
				return 1
			}
			return 0
		}
	case mmioInterruptStatus:
		return uint64(d.isr)
	case mmioStatus:
		return uint64(d.statusLocked())
	case mmioSHMLenLow, mmioSHMLenHigh:
		if !legacy {
			return 0xffffffff // §4.2.2: no shared memory region
		}
	case mmioSHMBaseLow, mmioSHMBaseHigh:
		if !legacy {
			return 0 // what QEMU 7.2 answers
		}
	case mmioQueueReset:
		if !legacy {
			return 0
		}
	case mmioConfigGeneration:
		if !legacy {
			return uint64(d.configGen)
		}
	}
	// A write-only register, one this version does not have, or a hole.
	d.bad("mmio", off, size, false)
	return 0
}

func (d *Device) mmioWrite(off uint32, size int, v uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.transport.pci() || off >= mmioWindowSize || off%uint32(size) != 0 {
		d.bad("mmio", off, size, true)
		return
	}
	if off >= mmioConfig {
		d.configWrite(off-mmioConfig, size, v)
		return
	}
	if size != 4 {
		d.bad("mmio", off, size, true)
		return
	}
	legacy := d.transport == MMIOLegacy
	q := d.selected()
	val := uint32(v)
	qok := q != nil
	switch off {
	case mmioDeviceFeaturesSel:
		d.dfSel = val
		return
	case mmioDriverFeatures:
		d.setDriverFeatures(d.gfSel, val)
		return
	case mmioDriverFeaturesSel:
		d.gfSel = val
		return
	case mmioGuestPageSize:
		if legacy {
			// QEMU keeps log2 of the page size (ctz32, 0 for 0).
			d.pageShift = uint(bits.TrailingZeros32(val))
			if val == 0 {
				d.pageShift = 0
			}
			return
		}
	case mmioQueueSel:
		d.queueSel = val
		return
	case mmioQueueNum:
		if qok && !(q.ready && !legacy) {
			q.num = uint16(min(val, 0xffff))
			if legacy && q.pfn != 0 {
				d.setLegacyQueue(q, q.pfn, d.pageShift)
			}
		}
		return
	case mmioQueueAlign:
		if legacy {
			if qok {
				q.align = val
				if q.pfn != 0 {
					d.setLegacyQueue(q, q.pfn, d.pageShift)
				}
			}
			return
		}
	case mmioQueuePFN:
		if legacy {
			if qok {
				d.setLegacyQueue(q, val, d.pageShift)
			}
			return
		}
	case mmioQueueReady:
		if !legacy {
			if qok {
				if val&1 != 0 && !q.ready {
					d.enableQueue(q)
				} else if val&1 == 0 {
					q.ready = false
				}
			}
			return
		}
	case mmioQueueNotify:
		d.notify(val)
		return
	case mmioInterruptACK:
		d.isr &^= uint8(val)
		return
	case mmioStatus:
		d.setStatus(uint8(val))
		return
	case mmioQueueDescLow, mmioQueueDescHigh, mmioQueueDriverLow, mmioQueueDriverHigh,
		mmioQueueDeviceLow, mmioQueueDeviceHigh:
		if !legacy {
			if qok && !q.ready {
				setHalf(off, val, mmioQueueDescLow, &q.descAddr)
				setHalf(off, val, mmioQueueDriverLow, &q.driverAddr)
				setHalf(off, val, mmioQueueDeviceLow, &q.deviceAddr)
			}
			return
		}
	case mmioSHMSel, mmioQueueReset:
		if !legacy {
			return
		}
	}
	d.bad("mmio", off, size, true)
}

// setHalf stores val into the low (off == low) or high (off == low+4)
// half of *p.
func setHalf(off, val, low uint32, p *uint64) {
	switch off {
	case low:
		*p = *p&^0xffffffff | uint64(val)
	case low + 4:
		*p = *p&0xffffffff | uint64(val)<<32
	}
}
