package virtio

import "fmt"

// virtio-mmio register offsets (§4.2.2, Table "MMIO Device Register
// Layout"; legacy-only registers from §4.2.4).
const (
	mmioMagicValue        = 0x000
	mmioVersion           = 0x004
	mmioDeviceID          = 0x008
	mmioVendorID          = 0x00c
	mmioDeviceFeatures    = 0x010
	mmioDeviceFeaturesSel = 0x014
	mmioDriverFeatures    = 0x020
	mmioDriverFeaturesSel = 0x024
	mmioGuestPageSize     = 0x028 // legacy
	mmioQueueSel          = 0x030
	mmioQueueNumMax       = 0x034
	mmioQueueNum          = 0x038
	mmioQueueAlign        = 0x03c // legacy
	mmioQueuePFN          = 0x040 // legacy
	mmioQueueReady        = 0x044
	mmioQueueNotify       = 0x050
	mmioInterruptStatus   = 0x060
	mmioInterruptACK      = 0x064
	mmioStatus            = 0x070
	mmioQueueDescLow      = 0x080
	mmioQueueDescHigh     = 0x084
	mmioQueueDriverLow    = 0x090
	mmioQueueDriverHigh   = 0x094
	mmioQueueDeviceLow    = 0x0a0
	mmioQueueDeviceHigh   = 0x0a4
	mmioConfigGeneration  = 0x0fc
	mmioConfig            = 0x100

	mmioMagic = 0x74726976 // "virt", little-endian
	// mmioConfigSize bounds the configuration space: the window is
	// usually 0x200 bytes, so 0x100 of configuration.
	mmioConfigSize = 0x100
)

// MMIO is a virtio-mmio device (§4.2), version 2 (modern) or version 1
// (legacy). Only 32-bit register accesses are used, as §4.2.2.2 requires.
type MMIO struct {
	r       Regs
	version uint32
	id      uint32
}

// NewMMIO checks the magic value and version of a virtio-mmio register
// window. An empty slot (device ID 0) is ErrNoDevice.
func NewMMIO(r Regs) (Transport, error) {
	if m := r.Read32(mmioMagicValue); m != mmioMagic {
		return nil, fmt.Errorf("%w: mmio magic %#x", ErrNoDevice, m)
	}
	v := r.Read32(mmioVersion)
	if v != 1 && v != 2 {
		return nil, fmt.Errorf("%w: mmio version %d", ErrNoDevice, v)
	}
	id := r.Read32(mmioDeviceID)
	if id == 0 {
		return nil, fmt.Errorf("%w: empty mmio slot", ErrNoDevice)
	}
	return &MMIO{r: r, version: v, id: id}, nil
}

// Name is "mmio".
func (m *MMIO) Name() string { return "mmio" }

// Legacy reports a version 1 device (§4.2.4).
func (m *MMIO) Legacy() bool { return m.version == 1 }

// DeviceID is the DeviceID register: the virtio device type (§5).
func (m *MMIO) DeviceID() uint32 { return m.id }

// VendorID is the virtio subsystem vendor ID.
func (m *MMIO) VendorID() uint32 { return m.r.Read32(mmioVendorID) }

// Status reads the Status register.
func (m *MMIO) Status() uint8 { return uint8(m.r.Read32(mmioStatus)) }

// SetStatus writes the Status register; 0 resets the device.
func (m *MMIO) SetStatus(s uint8) { m.r.Write32(mmioStatus, uint32(s)) }

// Notify writes queue index q to QueueNotify.
func (m *MMIO) Notify(q uint16) { m.r.Write32(mmioQueueNotify, uint32(q)) }

// DeviceConfig is the configuration space from offset 0x100, 256 bytes.
func (m *MMIO) DeviceConfig() Regs { return window{m.r, mmioConfig, mmioConfigSize} }
func (m *MMIO) Barrier(b Barrier)  { m.r.Barrier(b) }

// DeviceFeatures reads DeviceFeatures through both values of
// DeviceFeaturesSel (only the first on a legacy device).
func (m *MMIO) DeviceFeatures() Features {
	m.r.Write32(mmioDeviceFeaturesSel, 0)
	f := Features(m.r.Read32(mmioDeviceFeatures))
	if !m.Legacy() {
		m.r.Write32(mmioDeviceFeaturesSel, 1)
		f |= Features(m.r.Read32(mmioDeviceFeatures)) << 32
	}
	return f
}

// SetDriverFeatures writes DriverFeatures through both values of
// DriverFeaturesSel (only the first on a legacy device).
func (m *MMIO) SetDriverFeatures(f Features) {
	m.r.Write32(mmioDriverFeaturesSel, 0)
	m.r.Write32(mmioDriverFeatures, uint32(f))
	if !m.Legacy() {
		m.r.Write32(mmioDriverFeaturesSel, 1)
		m.r.Write32(mmioDriverFeatures, uint32(f>>32))
	}
}

// InterruptStatus reads InterruptStatus and acknowledges what it read
// through InterruptACK.
func (m *MMIO) InterruptStatus() uint32 {
	s := m.r.Read32(mmioInterruptStatus)
	if s != 0 {
		m.r.Write32(mmioInterruptACK, s)
	}
	return s
}

// ConfigGeneration reads ConfigGeneration; 0 on a legacy device, which
// has no such register.
func (m *MMIO) ConfigGeneration() uint32 {
	if m.Legacy() {
		return 0
	}
	return m.r.Read32(mmioConfigGeneration)
}

// QueueMax selects queue q and reads QueueNumMax. It follows §4.2.3.2 (modern: QueueReady must read 0) and §4.2.4
// (legacy: QueuePFN must read 0).
func (m *MMIO) QueueMax(q uint16) (uint16, error) {
	m.r.Write32(mmioQueueSel, uint32(q))
	inUse := mmioQueueReady
	if m.Legacy() {
		inUse = mmioQueuePFN
	}
	if m.r.Read32(uint32(inUse)) != 0 {
		return 0, errQueueInUse
	}
	n := m.r.Read32(mmioQueueNumMax)
	if n > 0x8000 {
		n = 0x8000 // §2.7: split queues have at most 32768 entries
	}
	return uint16(n), nil
}

// SetQueue writes queue q's size and areas and sets QueueReady (§4.2.3.2);
// on a legacy device, the guest page size, alignment and page number of
// the legacy layout (§4.2.4).
func (m *MMIO) SetQueue(q, size uint16, desc, driver, device uint64) error {
	m.r.Write32(mmioQueueSel, uint32(q))
	m.r.Write32(mmioQueueNum, uint32(size))
	if m.Legacy() {
		if err := checkLegacyLayout(size, desc, driver, device); err != nil {
			return err
		}
		m.r.Write32(mmioGuestPageSize, legacyAlign)
		m.r.Write32(mmioQueueAlign, legacyAlign)
		m.r.Write32(mmioQueuePFN, uint32(desc/legacyAlign))
		return nil
	}
	m.r.Write32(mmioQueueDescLow, uint32(desc))
	m.r.Write32(mmioQueueDescHigh, uint32(desc>>32))
	m.r.Write32(mmioQueueDriverLow, uint32(driver))
	m.r.Write32(mmioQueueDriverHigh, uint32(driver>>32))
	m.r.Write32(mmioQueueDeviceLow, uint32(device))
	m.r.Write32(mmioQueueDeviceHigh, uint32(device>>32))
	m.r.Write32(mmioQueueReady, 1)
	return nil
}
