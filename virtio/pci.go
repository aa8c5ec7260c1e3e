package virtio

import "fmt"

// PCI configuration space header fields used here.
const (
	pciVendorID      = 0x00
	pciDeviceID      = 0x02
	pciCommand       = 0x04
	pciStatus        = 0x06
	pciSubsystemID   = 0x2e
	pciCapabilities  = 0x34
	pciCommandIO     = 1 << 0
	pciCommandMemory = 1 << 1
	pciCommandMaster = 1 << 2
	pciStatusCapList = 1 << 4

	pciCapVendor = 0x09 // vendor-specific capability: struct virtio_pci_cap
	pciCapMSIX   = 0x11

	pciVendorVirtio = 0x1af4
)

// virtio_pci_cap (§4.1.4): cfg_type values and field offsets.
const (
	pciCapCommonCfg = 1
	pciCapNotifyCfg = 2
	pciCapISRCfg    = 3
	pciCapDeviceCfg = 4

	capCfgType   = 3
	capBAR       = 4
	capOffset    = 8
	capLength    = 12
	capNotifyMul = 16
)

// struct virtio_pci_common_cfg (§4.1.4.3).
const (
	commonDeviceFeatureSelect = 0
	commonDeviceFeature       = 4
	commonDriverFeatureSelect = 8
	commonDriverFeature       = 12
	commonMSIXConfig          = 16
	commonNumQueues           = 18
	commonDeviceStatus        = 20
	commonConfigGeneration    = 21
	commonQueueSelect         = 22
	commonQueueSize           = 24
	commonQueueMSIXVector     = 26
	commonQueueEnable         = 28
	commonQueueNotifyOff      = 30
	commonQueueDesc           = 32
	commonQueueDriver         = 40
	commonQueueDevice         = 48
	commonCfgSize             = 56
)

// The legacy register block at the start of I/O BAR0 (§4.1.4.10).
const (
	legacyHostFeatures  = 0
	legacyGuestFeatures = 4
	legacyQueueAddress  = 8
	legacyQueueSize     = 12
	legacyQueueSelect   = 14
	legacyQueueNotify   = 16
	legacyDeviceStatus  = 18
	legacyISR           = 19
	legacyConfig        = 20 // 24 when MSI-X is enabled
	legacyConfigMSIX    = 24
	legacyBlockSize     = 0x100 // the configuration space ends before this
)

// PCI is a virtio-pci device (§4.1), driven through its modern
// capabilities or, when it has none, through the legacy I/O register
// block of a transitional device.
type PCI struct {
	cfg    Regs
	legacy bool
	id     uint32

	common Regs // modern: struct virtio_pci_common_cfg
	notify Regs // modern: notification structure
	mul    uint32
	// notifyOff is each set-up queue's offset in the notify structure:
	// queue_notify_off × notify_off_multiplier.
	notifyOff []uint32
	isr       Regs
	device    Regs
	io        Regs // legacy: BAR0
}

// NewPCI finds the virtio structures of a PCI function: the modern
// capabilities (common, notify, ISR, device configuration) in whichever
// BARs they live or, failing that, the legacy register block in I/O BAR0
// (transitional devices 0x1000–0x103f). It enables I/O and memory
// decoding and bus mastering in the command register.
func NewPCI(fn PCIFunction) (Transport, error) {
	c := fn.Config()
	vendor, dev := c.Read16(pciVendorID), c.Read16(pciDeviceID)
	if vendor != pciVendorVirtio || dev < 0x1000 || dev > 0x107f {
		return nil, fmt.Errorf("%w: pci %04x:%04x", ErrNoDevice, vendor, dev)
	}
	p := &PCI{cfg: c}
	if dev >= 0x1040 {
		p.id = uint32(dev) - 0x1040
	} else {
		// §4.1.2.1: a transitional device's subsystem device ID is its
		// virtio device ID.
		p.id = uint32(c.Read16(pciSubsystemID))
	}
	c.Write16(pciCommand, c.Read16(pciCommand)|pciCommandIO|pciCommandMemory|pciCommandMaster)

	err := p.findCaps(fn)
	if err == nil {
		return p, nil
	}
	if dev >= 0x1040 {
		return nil, err // modern-only devices have no legacy interface
	}
	io, berr := fn.BAR(0)
	if berr != nil {
		return nil, fmt.Errorf("virtio: pci legacy BAR0: %w (modern: %v)", berr, err)
	}
	p.legacy = true
	p.io = io
	off := uint32(legacyConfig)
	if p.msixEnabled() {
		off = legacyConfigMSIX
	}
	p.device = window{io, off, legacyBlockSize - off}
	return p, nil
}

// caps walks the capability list, calling fn with each capability's
// offset and ID. It stops after 48 entries (all that fit in 256 bytes)
// so that a looping list cannot hang the driver.
func (p *PCI) caps(fn func(off uint32, id uint8)) {
	if p.cfg.Read16(pciStatus)&pciStatusCapList == 0 {
		return
	}
	off := uint32(p.cfg.Read8(pciCapabilities)) &^ 3
	for i := 0; off >= 0x40 && i < 48; i++ {
		fn(off, p.cfg.Read8(off))
		off = uint32(p.cfg.Read8(off+1)) &^ 3
	}
}

func (p *PCI) msixEnabled() bool {
	on := false
	p.caps(func(off uint32, id uint8) {
		if id == pciCapMSIX && p.cfg.Read16(off+2)&(1<<15) != 0 {
			on = true
		}
	})
	return on
}

// findCaps locates the modern structures; the first capability of each
// type is the one to use (§4.1.4).
func (p *PCI) findCaps(fn PCIFunction) error {
	var regs [4]Regs
	var err error
	p.caps(func(off uint32, id uint8) {
		if id != pciCapVendor || err != nil {
			return
		}
		typ := p.cfg.Read8(off + capCfgType)
		if typ < pciCapCommonCfg || typ > pciCapDeviceCfg || regs[typ-1] != nil {
			return
		}
		bar := p.cfg.Read8(off + capBAR)
		if bar > 5 {
			return // reserved BAR values: ignore the capability (§4.1.4)
		}
		r, e := fn.BAR(int(bar))
		if e != nil {
			err = fmt.Errorf("virtio: pci capability %d in BAR%d: %w", typ, bar, e)
			return
		}
		w := window{r, p.cfg.Read32(off + capOffset), p.cfg.Read32(off + capLength)}
		if typ == pciCapNotifyCfg {
			p.mul = p.cfg.Read32(off + capNotifyMul)
		}
		regs[typ-1] = w
	})
	if err != nil {
		return err
	}
	if regs[0] == nil || regs[1] == nil || regs[2] == nil {
		return fmt.Errorf("%w: pci device without common, notify and ISR capabilities", ErrNoDevice)
	}
	if w := regs[0].(window); w.size < commonCfgSize {
		return fmt.Errorf("%w: pci common configuration of %d bytes", ErrDeviceBroken, w.size)
	}
	p.common, p.notify, p.isr, p.device = regs[0], regs[1], regs[2], regs[3]
	if p.device == nil {
		p.device = window{} // a device type without configuration
	}
	return nil
}

// Name is "pci".
func (p *PCI) Name() string { return "pci" }

// Legacy reports a transitional device driven through its legacy I/O
// register block (§4.1.4.10).
func (p *PCI) Legacy() bool { return p.legacy }

// DeviceID is the virtio device type (§5), from the PCI device ID or, for
// a transitional device, its subsystem device ID (§4.1.2.1).
func (p *PCI) DeviceID() uint32 { return p.id }

// Status reads device_status.
func (p *PCI) Status() uint8 {
	if p.legacy {
		return p.io.Read8(legacyDeviceStatus)
	}
	return p.common.Read8(commonDeviceStatus)
}

// SetStatus writes device_status; 0 resets the device.
func (p *PCI) SetStatus(s uint8) {
	if p.legacy {
		p.io.Write8(legacyDeviceStatus, s)
		return
	}
	p.common.Write8(commonDeviceStatus, s)
}

// DeviceFeatures reads device_feature through both values of
// device_feature_select (the legacy block has 32 bits only).
func (p *PCI) DeviceFeatures() Features {
	if p.legacy {
		return Features(p.io.Read32(legacyHostFeatures))
	}
	p.common.Write32(commonDeviceFeatureSelect, 0)
	f := Features(p.common.Read32(commonDeviceFeature))
	p.common.Write32(commonDeviceFeatureSelect, 1)
	return f | Features(p.common.Read32(commonDeviceFeature))<<32
}

// SetDriverFeatures writes driver_feature through both values of
// driver_feature_select (the legacy block has 32 bits only).
func (p *PCI) SetDriverFeatures(f Features) {
	if p.legacy {
		p.io.Write32(legacyGuestFeatures, uint32(f))
		return
	}
	p.common.Write32(commonDriverFeatureSelect, 0)
	p.common.Write32(commonDriverFeature, uint32(f))
	p.common.Write32(commonDriverFeatureSelect, 1)
	p.common.Write32(commonDriverFeature, uint32(f>>32))
}

// QueueMax selects queue q and reads queue_size, after checking that the
// queue is not enabled (legacy: has no address yet).
func (p *PCI) QueueMax(q uint16) (uint16, error) {
	var n uint16
	if p.legacy {
		p.io.Write16(legacyQueueSelect, q)
		if p.io.Read32(legacyQueueAddress) != 0 {
			return 0, errQueueInUse
		}
		n = p.io.Read16(legacyQueueSize)
	} else {
		p.common.Write16(commonQueueSelect, q)
		if p.common.Read16(commonQueueEnable) != 0 {
			return 0, errQueueInUse
		}
		n = p.common.Read16(commonQueueSize)
	}
	return min(n, 0x8000), nil
}

// SetQueue follows §4.1.5.1.3 (modern) and §4.1.5.1.3.1 (legacy: the
// queue size is the device's and only the page number is written).
func (p *PCI) SetQueue(q, size uint16, desc, driver, device uint64) error {
	if p.legacy {
		if err := checkLegacyLayout(size, desc, driver, device); err != nil {
			return err
		}
		p.io.Write16(legacyQueueSelect, q)
		if n := p.io.Read16(legacyQueueSize); n != size {
			return fmt.Errorf("virtio: legacy pci queue %d has size %d, not %d", q, n, size)
		}
		p.io.Write32(legacyQueueAddress, uint32(desc/legacyAlign))
		return nil
	}
	c := p.common
	c.Write16(commonQueueSelect, q)
	c.Write16(commonQueueSize, size)
	// 64-bit fields as two 32-bit accesses, low half first (§4.1.3.1).
	c.Write32(commonQueueDesc, uint32(desc))
	c.Write32(commonQueueDesc+4, uint32(desc>>32))
	c.Write32(commonQueueDriver, uint32(driver))
	c.Write32(commonQueueDriver+4, uint32(driver>>32))
	c.Write32(commonQueueDevice, uint32(device))
	c.Write32(commonQueueDevice+4, uint32(device>>32))
	off64 := uint64(c.Read16(commonQueueNotifyOff)) * uint64(p.mul)
	off := uint32(off64)
	if w := p.notify.(window); off64 > uint64(w.size) || !w.ok(off, 2) {
		return fmt.Errorf("%w: queue %d notify offset %d outside the %d-byte notify structure", ErrDeviceBroken, q, off64, w.size)
	}
	for len(p.notifyOff) <= int(q) {
		p.notifyOff = append(p.notifyOff, 0)
	}
	p.notifyOff[q] = off
	c.Write16(commonQueueEnable, 1)
	return nil
}

// Notify writes q to queue q's notification address (§4.1.4.4).
func (p *PCI) Notify(q uint16) {
	if p.legacy {
		p.io.Write16(legacyQueueNotify, q)
		return
	}
	// The queue's notify address was computed by SetQueue (§4.1.4.4).
	if int(q) < len(p.notifyOff) {
		p.notify.Write16(p.notifyOff[q], q)
	}
}

// Barrier is the barrier of the region notifications go to (§4.1.4.4, or
// the legacy I/O block), so that it orders the ring against the very
// register write it precedes.
func (p *PCI) Barrier(b Barrier) {
	if p.legacy {
		p.io.Barrier(b)
		return
	}
	p.notify.Barrier(b)
}

// InterruptStatus reads the ISR status byte, which the read also
// clears (§4.1.4.5).
func (p *PCI) InterruptStatus() uint32 {
	if p.legacy {
		return uint32(p.io.Read8(legacyISR))
	}
	return uint32(p.isr.Read8(0))
}

// DeviceConfig is the device-specific configuration structure (legacy:
// the rest of the I/O register block).
func (p *PCI) DeviceConfig() Regs { return p.device }

// ConfigGeneration reads config_generation; 0 on a legacy device.
func (p *PCI) ConfigGeneration() uint32 {
	if p.legacy {
		return 0
	}
	return uint32(p.common.Read8(commonConfigGeneration))
}

// NoMSIXVector is VIRTIO_MSI_NO_VECTOR: no interrupt for the event
// (§4.1.4.3).
const NoMSIXVector = 0xffff

// SetMSIXVectors maps configuration change notifications to MSI-X table
// entry config and queue q's used buffer notifications to entry queue
// (config_msix_vector and queue_msix_vector, §4.1.5.1.2), or unmaps them
// with NoMSIXVector. The device reports a mapping it could not make by
// reading back NO_VECTOR; that is an error (§4.1.5.1.2.1). Legacy devices
// are not supported: their configuration space moves when MSI-X is
// enabled.
//
// queue_msix_vector belongs to the queue queue_select names, so q may be
// any queue the device has, before or after it was set up; a device with
// several queues (VIRTIO_BLK_F_MQ) takes one call per queue. Linux's
// layout (virtio_pci's vp_find_vqs_msix) is entry 0 for configuration
// changes and entry 1+i for queue i, which fits QEMU's default table of
// num_queues+1 entries: SetMSIXVectors(0, i, 1+i) for each queue i.
func (p *PCI) SetMSIXVectors(config, q, queue uint16) error {
	if p.legacy {
		return fmt.Errorf("virtio: MSI-X vectors of a legacy pci device are not supported")
	}
	c := p.common
	c.Write16(commonMSIXConfig, config)
	c.Write16(commonQueueSelect, q)
	c.Write16(commonQueueMSIXVector, queue)
	if got := c.Read16(commonMSIXConfig); got != config {
		return fmt.Errorf("virtio: pci device took config_msix_vector %#x as %#x", config, got)
	}
	if got := c.Read16(commonQueueMSIXVector); got != queue {
		return fmt.Errorf("virtio: pci device took queue %d's msix_vector %#x as %#x", q, queue, got)
	}
	return nil
}
