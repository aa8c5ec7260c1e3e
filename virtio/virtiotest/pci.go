package virtiotest

import (
	"fmt"

	"github.com/tamaswap/tamaswap/virtio"
)

// pciState is the PCI side of a PCIModern or PCILegacy device: the
// configuration space as QEMU 7.2 lays it out for virtio-blk-pci, with
// QEMU's write masks, and the MSI-X table BAR.
type pciState struct {
	cfg     [pciConfigSize]byte
	msixCap int                 // offset of the MSI-X capability
	wmask   [pciConfigSize]byte // bits the driver can write
	msix    [pciMSIXBARSize]byte
	// vectors is the MSI-X table size: num_queues+1, QEMU's default
	// for virtio-blk-pci (hw/virtio/virtio-blk-pci.c).
	vectors int
}

// Addresses the "firmware" assigned to the BARs; nothing depends on them.
const (
	pciBAR0Addr = 0xc000
	pciBAR1Addr = 0xfebd_1000
	pciBAR4Addr = 0xfe00_0000
)

func (p *pciState) init(d *Device) {
	if !d.transport.pci() {
		return
	}
	c := p.cfg[:]
	put16(c[0x00:], pciVendorRedHat)
	put16(c[0x06:], pciStatusCapList)
	put16(c[0x0a:], pciClassStorageSCSI)
	put16(c[0x2c:], pciVendorRedHat)
	c[pciInterruptPin] = 1
	p.wmask[pciInterruptLine] = 0xff
	// Firmware enabled I/O and memory decoding; bus mastering is the
	// driver's to enable.
	put16(c[0x04:], pciCommandIO|pciCommandMemory)
	put16(p.wmask[0x04:], pciCommandWritable)

	// BAR1: the MSI-X table and PBA, 4 KiB of 32-bit memory.
	put32(c[pciBAR1:], pciBAR1Addr)
	put32(p.wmask[pciBAR1:], ^uint32(pciMSIXBARSize-1))
	next := uint8(0)
	if d.transport == PCIModern {
		put16(c[0x02:], pciDeviceModernBlk)
		c[0x08] = 1 // revision: modern
		put16(c[0x2e:], pciSubsysModern)
		// BAR4: 64-bit prefetchable memory with the virtio structures.
		put32(c[pciBAR4:], pciBAR4Addr|pciBARMem64Prefetch)
		put32(p.wmask[pciBAR4:], ^uint32(pciModernBARSize-1))
		put32(p.wmask[pciBAR5:], 0xffffffff)
		// QEMU adds common, ISR, device, notify, then PCI_CFG, each at
		// the head of the list (§4.1.4).
		next = p.vendorCap(pciCapCommonOff, next, 16, pciCapCommonCfg, pciCommonBase, pciModernRegionStride)
		next = p.vendorCap(pciCapISROff, next, 16, pciCapISRCfg, pciISRBase, pciModernRegionStride)
		next = p.vendorCap(pciCapDeviceOff, next, 16, pciCapDeviceCfg, pciDeviceBase, pciModernRegionStride)
		next = p.vendorCap(pciCapNotifyOff, next, 20, pciCapNotifyCfg, pciNotifyBase, pciModernRegionStride)
		put32(c[pciCapNotifyOff+16:], pciNotifyOffMult)
		// VIRTIO_PCI_CAP_PCI_CFG: bar, offset, length and data are the
		// driver's to write (§4.1.4.9).
		next = p.vendorCap(pciCapPCICfgOff, next, 20, pciCapPCICfg, 0, 0)
		c[pciCapPCICfgOff+4] = 0
		p.wmask[pciCapPCICfgOff+4] = 0xff
		for i := 8; i < 20; i++ {
			p.wmask[pciCapPCICfgOff+i] = 0xff
		}
	} else {
		put16(c[0x02:], pciDeviceLegacyBlk)
		put16(c[0x2e:], 2) // §4.1.2.1: transitional subsystem id = device type
		put32(c[pciBAR0:], pciBAR0Addr|pciBARIO)
		put32(p.wmask[pciBAR0:], ^uint32(pciLegacyBARSize-1)&^3)
	}
	// MSI-X, disabled, with QEMU's num_queues+1 vectors; added last, so
	// first in the list, at the first free offset.
	p.vectors = len(d.qs) + 1
	o := pciCapMSIXOff
	if d.transport == PCILegacy {
		o = pciCapLegacyMSIXOff
	}
	p.msixCap = o
	c[o], c[o+1] = pciCapIDMSIX, next
	put16(c[o+2:], uint16(p.vectors-1))
	put16(p.wmask[o+2:], pciMSIXEnable|pciMSIXFunctionMask)
	put32(c[o+4:], 1)                  // table at offset 0 of BAR1
	put32(c[o+8:], pciMSIXPBAOffset|1) // PBA in BAR1
	c[pciCapabilityListPtr] = uint8(o)
}

// vendorCap writes struct virtio_pci_cap at off, pointing into BAR4, and
// returns off for the next capability to link to.
func (p *pciState) vendorCap(off int, next uint8, capLen uint8, typ uint8, offset, length uint32) uint8 {
	c := p.cfg[off:]
	c[0], c[1], c[2], c[3] = pciCapIDVendor, next, capLen, typ
	c[4] = 4 // bar
	put32(c[8:], offset)
	put32(c[12:], length)
	return uint8(off)
}

func (p *pciState) command() uint16          { return get16(p.cfg[0x04:]) }
func (p *pciState) enableBusMaster()         { p.cfg[0x04] |= pciCommandBusMaster }
func (p *pciState) msixEnabled() bool        { return get16(p.cfg[p.msixCap+2:])&pciMSIXEnable != 0 }
func (d *Device) pciDecodes(bit uint16) bool { return d.pci.command()&bit != 0 }

// pciFunction is the virtio.PCIFunction of a device.
type pciFunction struct{ d *Device }

func (f pciFunction) Config() virtio.Regs { return splitAccess(f.d.pciConfigRead, f.d.pciConfigWrite) }

func (f pciFunction) BAR(n int) (virtio.Regs, error) {
	switch {
	case !f.d.transport.pci():
		return nil, fmt.Errorf("virtiotest: %v device has no PCI BARs", f.d.transport)
	case n == 1:
		return window(f.d.msixAccess), nil
	case n == 4 && f.d.transport == PCIModern:
		return window(f.d.modernLocked), nil
	case n == 0 && f.d.transport == PCILegacy:
		return window(f.d.legacyAccess), nil
	}
	return nil, fmt.Errorf("virtiotest: %v device has no BAR%d", f.d.transport, n)
}

const (
	pciCfgCapBar    = pciCapPCICfgOff + 4
	pciCfgCapOffset = pciCapPCICfgOff + 8
	pciCfgCapLength = pciCapPCICfgOff + 12
	pciCfgCapData   = pciCapPCICfgOff + 16
)

// pciConfigRead and pciConfigWrite serve the function's configuration
// space. Accesses are 8, 16 or 32 bits wide and naturally aligned; the
// 4 KiB of ECAM past the first 256 bytes read as zero.
func (d *Device) pciConfigRead(off uint32, size int) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if size > 4 || off%uint32(size) != 0 || off >= 4096 {
		d.bad("PCI config", off, size, false)
		return 0
	}
	if !d.transport.pci() {
		return ones(size) // no device answers
	}
	if off >= pciConfigSize {
		return 0
	}
	if d.transport == PCIModern && overlaps(off, size, pciCfgCapData, 4) {
		// VIRTIO_PCI_CAP_PCI_CFG: a read of pci_cfg_data reads the BAR.
		if n, o, ok := d.pciCfgWindow(); ok {
			v := d.modernAccess(o, n, false, 0)
			for i := 0; i < 4; i++ {
				d.pci.cfg[pciCfgCapData+i] = byte(v >> (8 * i))
			}
		}
	}
	var v uint64
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint64(d.pci.cfg[off+uint32(i)])
	}
	return v
}

func (d *Device) pciConfigWrite(off uint32, size int, v uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if size > 4 || off%uint32(size) != 0 || off >= 4096 {
		d.bad("PCI config", off, size, true)
		return
	}
	if !d.transport.pci() || off >= pciConfigSize {
		return
	}
	for i := 0; i < size; i++ {
		m := d.pci.wmask[off+uint32(i)]
		b := &d.pci.cfg[off+uint32(i)]
		*b = *b&^m | byte(v>>(8*i))&m
	}
	if d.transport == PCIModern && overlaps(off, size, pciCfgCapData, 4) {
		if n, o, ok := d.pciCfgWindow(); ok {
			d.modernAccess(o, n, true, uint64(get32(d.pci.cfg[pciCfgCapData:])))
		}
	}
}

// pciCfgWindow returns the BAR4 access the PCI_CFG capability describes,
// if it is one the device performs: BAR4, 1, 2 or 4 bytes, aligned.
func (d *Device) pciCfgWindow() (size int, off uint32, ok bool) {
	c := d.pci.cfg[:]
	n, o := get32(c[pciCfgCapLength:]), get32(c[pciCfgCapOffset:])
	if c[pciCfgCapBar] != 4 || n != 1 && n != 2 && n != 4 || o%n != 0 || o >= pciModernBARSize {
		return 0, 0, false
	}
	return int(n), o, true
}

func overlaps(off uint32, size int, start uint32, n int) bool {
	return off < start+uint32(n) && start < off+uint32(size)
}

// msixAccess serves BAR1, the MSI-X table: plain memory to the model, which
// only ever polls.
func (d *Device) msixAccess(off uint32, size int, write bool, v uint64) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.pciDecodes(pciCommandMemory) || off%uint32(size) != 0 || off >= pciMSIXBARSize {
		d.bad("BAR1", off, size, write)
		return ones(size)
	}
	b := d.pci.msix[off : off+uint32(size)]
	if write {
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		return 0
	}
	var r uint64
	for i := size - 1; i >= 0; i-- {
		r = r<<8 | uint64(b[i])
	}
	return r
}

// modernLocked serves BAR4 of a modern device: common configuration at 0,
// ISR status at 0x1000, device configuration at 0x2000, notifications at
// 0x3000, as QEMU lays them out.
func (d *Device) modernLocked(off uint32, size int, write bool, v uint64) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.pciDecodes(pciCommandMemory) {
		d.bad("BAR4", off, size, write) // memory decoding off: nothing answers
		return ones(size)
	}
	return d.modernAccess(off, size, write, v)
}

func (d *Device) modernAccess(off uint32, size int, write bool, v uint64) uint64 {
	if off >= pciModernBARSize || off%uint32(size) != 0 {
		d.bad("BAR4", off, size, write)
		return 0
	}
	switch base := off &^ (pciModernRegionStride - 1); base {
	case pciCommonBase:
		return d.commonAccess(off, size, write, v)
	case pciISRBase:
		if off != pciISRBase || size != 1 {
			d.bad("BAR4", off, size, write)
			return 0
		}
		if write {
			d.bad("BAR4", off, size, write) // read-only
			return 0
		}
		// §4.1.4.5: reading the ISR status clears it.
		isr := d.isr
		d.isr = 0
		return uint64(isr)
	case pciDeviceBase:
		if write {
			d.configWrite(off-base, size, v)
			return 0
		}
		return d.configRead(off-base, size)
	default: // pciNotifyBase
		if write {
			// QEMU takes the queue from the address, not the value.
			d.notify((off - base) / pciNotifyOffMult)
		}
		return 0
	}
}

// commonWidth is the width of the struct virtio_pci_common_cfg field at
// off (§4.1.4.3), 0 if no field starts there. The 64-bit queue addresses
// are left to commonAccess.
func commonWidth(off uint32) int {
	switch off {
	case commonDFSelect, commonDF, commonGFSelect, commonGF:
		return 4
	case commonMSIX, commonNumQ, commonQSelect, commonQSize, commonQMSIX, commonQEnable,
		commonQNotifyOff, commonQNotifData, commonQReset:
		return 2
	case commonStatus, commonCfgGeneration:
		return 1
	}
	return 0
}

// commonAccess accesses the common configuration at each field's width
// (§4.1.3.1): 8, 16 or 32 bits, and the 64-bit queue addresses as 32-bit
// halves or whole. Anything else is ignored and counted.
func (d *Device) commonAccess(off uint32, size int, write bool, v uint64) uint64 {
	if off >= commonQDescLo && off < commonQNotifData {
		if size == 8 && (off-commonQDescLo)%8 == 0 {
			lo := d.commonAccess(off, 4, write, v&0xffffffff)
			hi := d.commonAccess(off+4, 4, write, v>>32)
			return lo | hi<<32
		}
		if size != 4 {
			d.bad("common cfg", off, size, write)
			return 0
		}
	} else if w := commonWidth(off); w != size {
		if w != 0 || off < commonSize {
			d.bad("common cfg", off, size, write)
		}
		return 0
	}
	q := d.selected()
	qok := q != nil
	if !write {
		switch off {
		case commonDFSelect:
			return uint64(d.dfSel)
		case commonDF:
			return uint64(d.deviceFeatures(d.dfSel))
		case commonGFSelect:
			return uint64(d.gfSel)
		case commonGF:
			if d.gfSel > 1 {
				return 0
			}
			return uint64(uint32(d.drvFeat >> (32 * d.gfSel)))
		case commonMSIX:
			return uint64(d.cfgVector)
		case commonNumQ:
			return uint64(len(d.qs))
		case commonStatus:
			return uint64(d.statusLocked())
		case commonCfgGeneration:
			return uint64(d.configGen)
		case commonQSelect:
			return uint64(d.queueSel)
		case commonQNotifyOff:
			return uint64(d.queueSel) // QEMU: the queue's index
		case commonQNotifData, commonQReset:
			return 0
		}
		if !qok {
			if off == commonQMSIX {
				return pciVirtioNoVector
			}
			return 0
		}
		switch off {
		case commonQSize:
			return uint64(q.num)
		case commonQMSIX:
			return uint64(q.msixVector)
		case commonQEnable:
			if q.ready {
				return 1
			}
			return 0
		case commonQDescLo, commonQDescHi:
			return half(off, commonQDescLo, q.descAddr)
		case commonQAvailLo, commonQAvailHi:
			return half(off, commonQAvailLo, q.driverAddr)
		case commonQUsedLo, commonQUsedHi:
			return half(off, commonQUsedLo, q.deviceAddr)
		}
		return 0
	}
	val := uint32(v)
	switch off {
	case commonDFSelect:
		d.dfSel = val
	case commonGFSelect:
		d.gfSel = val
	case commonGF:
		d.setDriverFeatures(d.gfSel, val)
	case commonMSIX:
		d.cfgVector = d.msixVector(uint16(val))
	case commonStatus:
		d.setStatus(uint8(val))
	case commonQSelect:
		d.queueSel = val
	case commonQReset:
		// VIRTIO_F_RING_RESET is not offered; QEMU ignores the write.
	case commonDF, commonNumQ, commonCfgGeneration, commonQNotifyOff, commonQNotifData:
		d.bad("common cfg", off, size, write) // read-only
	default:
		if !qok {
			return 0
		}
		switch off {
		case commonQSize:
			if !q.ready {
				q.num = uint16(val)
			}
		case commonQMSIX:
			q.msixVector = d.msixVector(uint16(val))
		case commonQEnable:
			// §4.1.4.3.2: the driver writes only 1; QEMU ignores 0.
			if val == 1 && !q.ready {
				d.enableQueue(q)
			}
		default:
			if q.ready {
				return 0
			}
			setHalf(off, val, commonQDescLo, &q.descAddr)
			setHalf(off, val, commonQAvailLo, &q.driverAddr)
			setHalf(off, val, commonQUsedLo, &q.deviceAddr)
		}
	}
	return 0
}

// msixVector is what QEMU stores for a vector write: the vector if the
// function has it, else VIRTIO_MSI_NO_VECTOR.
func (d *Device) msixVector(v uint16) uint16 {
	if int(v) < d.pci.vectors {
		return v
	}
	return pciVirtioNoVector
}

func half(off, low uint32, v uint64) uint64 {
	if off == low {
		return v & 0xffffffff
	}
	return v >> 32
}

// legacyAccess serves I/O BAR0 of a transitional device: the legacy header
// (§4.1.4.10), then the device configuration at 20, or at 24 while MSI-X
// is enabled.
func (d *Device) legacyAccess(off uint32, size int, write bool, v uint64) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.pciDecodes(pciCommandIO) || size > 4 || off%uint32(size) != 0 || off >= pciLegacyBARSize {
		// Port I/O is at most 32 bits wide.
		d.bad("BAR0", off, size, write)
		return ones(size)
	}
	cfgOff := uint32(legacyConfig)
	if d.pci.msixEnabled() {
		cfgOff = legacyConfigMSIX
	}
	if off >= cfgOff {
		if write {
			d.configWrite(off-cfgOff, size, v)
			return 0
		}
		return d.configRead(off-cfgOff, size)
	}
	var w int
	switch off {
	case legacyHostFeatures, legacyGuestFeatures, legacyQueuePFN:
		w = 4
	case legacyQueueSize, legacyQueueSelect, legacyQueueNotify, legacyConfigVector, legacyQueueVector:
		w = 2
	case legacyStatus, legacyISR:
		w = 1
	}
	if w != size {
		d.bad("BAR0", off, size, write)
		return 0
	}
	q := d.selected()
	qok := q != nil
	val := uint32(v)
	if !write {
		switch off {
		case legacyHostFeatures:
			return uint64(d.deviceFeatures(0))
		case legacyGuestFeatures:
			return d.negotiated & 0xffffffff
		case legacyQueuePFN:
			if qok {
				return uint64(q.pfn)
			}
			return 0
		case legacyQueueSize:
			if qok {
				return uint64(d.queueMax)
			}
			return 0
		case legacyQueueSelect:
			return uint64(d.queueSel)
		case legacyStatus:
			return uint64(d.statusLocked())
		case legacyISR:
			isr := d.isr
			d.isr = 0 // read to clear
			return uint64(isr)
		case legacyConfigVector:
			return uint64(d.cfgVector)
		case legacyQueueVector:
			if qok {
				return uint64(q.msixVector)
			}
			return pciVirtioNoVector
		}
		return 0 // queue notify reads as 0
	}
	switch off {
	case legacyGuestFeatures:
		d.setDriverFeatures(0, val)
	case legacyQueuePFN:
		if qok {
			// Legacy queues have the size the device says, aligned to
			// 4096 bytes; a page number of 0 resets the device.
			q.num = d.queueMax
			q.align = legacyPCIAlign
			d.setLegacyQueue(q, val, legacyPFNShift)
		}
	case legacyQueueSelect:
		d.queueSel = val
	case legacyQueueNotify:
		d.notify(val)
	case legacyStatus:
		d.setStatus(uint8(val))
	case legacyConfigVector:
		d.cfgVector = d.msixVector(uint16(val))
	case legacyQueueVector:
		if qok {
			q.msixVector = d.msixVector(uint16(val))
		}
	default:
		d.bad("BAR0", off, size, write) // read-only
	}
	return 0
}
