//go:build linux && (amd64 || arm64)

package hosted

import "fmt"

// virtio-mmio registers the probe reads (virtio 1.2 §4.2.2).
const (
	mmioMagicValue = 0x000 // "virt"
	mmioVersion    = 0x004 // 1 legacy, 2 modern
	mmioDeviceID   = 0x008 // 0: no device behind this slot
	mmioMagic      = 0x74726976
)

// MMIOSlot is a virtio-mmio slot with a device behind it.
type MMIOSlot struct {
	Slot     int     // slot number, 0..MMIOSlots-1
	Addr     uint64  // physical address of its registers
	Version  uint32  // MagicValue's version register: 1 or 2
	DeviceID uint32  // virtio device type (2: block)
	Regs     *Window // its 512-byte register window
}

// probeMMIO maps the machine's virtio-mmio slots through /dev/mem and returns
// the slots that answer with the magic value, a known version and a
// device, in QEMU's -device order (highest slot first). Reading these
// registers has no side effects (§4.2.2). On a machine with nothing at
// MMIOBase no slot answers and the result is empty.
func probeMMIO() ([]MMIOSlot, *physMapping, error) {
	m, err := mapPhys(MMIOBase, MMIOSlots*MMIOSlotSize, true)
	if err != nil {
		return nil, nil, err
	}
	var slots []MMIOSlot
	for n := MMIOSlots - 1; n >= 0; n-- {
		w, err := newWindow(m.bytes(), n*MMIOSlotSize, MMIOSlotSize)
		if err != nil {
			m.close()
			return nil, nil, err
		}
		if w.Read32(mmioMagicValue) != mmioMagic {
			continue
		}
		v, id := w.Read32(mmioVersion), w.Read32(mmioDeviceID)
		if (v != 1 && v != 2) || id == 0 {
			continue
		}
		slots = append(slots, MMIOSlot{Slot: n, Addr: MMIOBase + uint64(n*MMIOSlotSize), Version: v, DeviceID: id, Regs: w})
	}
	return slots, m, nil
}

func (s MMIOSlot) String() string {
	return fmt.Sprintf("mmio slot %d at %#x: version %d device %d", s.Slot, s.Addr, s.Version, s.DeviceID)
}
