//go:build amd64

package tamago

import (
	"errors"
	"fmt"

	"github.com/tamaswap/tamaswap/board/x86"
	"github.com/tamaswap/tamaswap/virtio"
)

// Vectors Route may hand out: 32-254. Intel SDM Vol. 3A §6.2 reserves
// 0-31 for exceptions; upstream's amd64 package keeps 255 for its own
// wake-up alarm (amd64/irq.go, IRQ_WAKEUP).
const (
	minVector = 32
	maxVector = 254
)

// BSP is the local APIC ID of the bootstrap processor, where upstream's
// boards service interrupts (amd64.CPU.ServiceInterrupts runs there, and
// its soc/intel/ioapic routes every entry to APIC ID 0).
const BSP = 0

// Route wires each disk's completion interrupt to a CPU vector of its
// own, vector0 for the first disk it routes and up, delivered to the
// local APIC whose ID is dest (BSP on upstream's boards), and leaves it
// masked: the disks poll until UseInterrupts(true).
//
// A virtio-mmio disk's GSI gets its I/O APIC redirection entry: fixed
// delivery, physical destination, active high, edge triggered (each VMM
// raises a fresh edge per notification: Firecracker and Cloud Hypervisor
// pulse an irqfd, and QEMU's virtio-mmio line rises again after the
// driver acknowledges; Intel 82093AA §3.2.4). A PCI disk's function gets
// MSI-X table entry 0, its configuration and queue 0 events mapped to it
// (virtio 1.2 §4.1.5.1.2), and MSI-X enabled (PCI 3.0 §6.8.2). Disks that
// cannot be routed (no GSI, no MSI-X, no vector left) are reported in err
// and keep polling; the others are routed.
func (m Machine) Route(disks []*Disk, vector0, dest uint8) error {
	mapMem := m.mapMem()
	if mapMem == nil {
		return ErrNoRegisterAccess
	}
	var errs []error
	next := int(vector0)
	for i, d := range disks {
		if next < minVector || next > maxVector {
			errs = append(errs, fmt.Errorf("tamago: disk %d: vector %d outside %d-%d", i, next, minVector, maxVector))
			continue
		}
		v := uint8(next)
		var mask func(bool) error
		var err error
		switch {
		case d.fn != nil:
			mask, err = routeMSIX(d, v, dest)
		case d.GSI >= 0:
			mask, err = m.routeGSI(mapMem, d.GSI, v, dest)
		default:
			err = errors.New("the machine names no interrupt for it")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("tamago: disk %d: %w (it polls)", i, err))
			continue
		}
		d.route.mu.Lock()
		d.route.vector, d.route.mask = v, mask
		d.route.mu.Unlock()
		next++
	}
	return errors.Join(errs...)
}

// routeGSI programs gsi's redirection entry on the I/O APIC that has it.
func (m Machine) routeGSI(mapMem func(uint64, uint32) virtio.Regs, gsi int, v, dest uint8) (func(bool) error, error) {
	for _, w := range m.IOAPICs {
		a := &x86.IOAPIC{Regs: mapMem(w.Base, ioapicWindow), GSIBase: w.GSIBase}
		if !a.Present() || gsi < w.GSIBase || gsi >= w.GSIBase+a.Pins() {
			continue
		}
		if err := a.Route(gsi, v, dest, false); err != nil {
			return nil, err
		}
		return func(masked bool) error { return a.Mask(gsi, masked) }, nil
	}
	return nil, fmt.Errorf("no I/O APIC of the machine has GSI %d", gsi)
}

// routeMSIX points the function's MSI-X entry 0 at v and maps the
// device's events to it.
func routeMSIX(d *Disk, v, dest uint8) (func(bool) error, error) {
	p, ok := d.Transport().(*virtio.PCI)
	if !ok || p.Legacy() {
		return nil, errors.New("only a modern virtio-pci device maps its events to MSI-X here")
	}
	x, err := d.fn.MSIX()
	if err != nil {
		return nil, err
	}
	addr, data := x86.MSIMessage(v, dest)
	if err := x.SetEntry(0, addr, data); err != nil {
		return nil, err
	}
	x.Enable()
	if err := p.SetMSIXVectors(0, 0, 0); err != nil {
		x.Disable()
		return nil, err
	}
	return func(masked bool) error { return x.Mask(0, masked) }, nil
}
