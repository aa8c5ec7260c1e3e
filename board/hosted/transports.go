//go:build linux && (amd64 || arm64)

package hosted

import (
	"errors"
	"fmt"

	"github.com/tamaswap/tamaswap/virtio"
)

// Transports returns a virtio transport for every device of type
// deviceID (2: block) the board found: virtio-mmio slots first, highest
// slot first, then PCI functions in bus order; both are QEMU's -device
// order. A device whose transport refuses it is left out and its error
// joined into err, so that one bad device does not hide the others.
func (b *Board) Transports(deviceID uint32) (ts []virtio.Transport, err error) {
	var errs []error
	for _, s := range b.MMIO {
		if s.DeviceID != deviceID {
			continue
		}
		t, err := virtio.NewMMIO(s.Regs)
		if err != nil {
			errs = append(errs, fmt.Errorf("%v: %w", s, err))
			continue
		}
		ts = append(ts, t)
	}
	for _, d := range b.PCI {
		// NewPCI enables memory decoding and bus mastering itself.
		t, err := virtio.NewPCI(d)
		if err != nil {
			errs = append(errs, fmt.Errorf("pci %s: %w", d.Name(), err))
			continue
		}
		if t.DeviceID() != deviceID {
			continue
		}
		ts = append(ts, t)
	}
	return ts, errors.Join(errs...)
}
