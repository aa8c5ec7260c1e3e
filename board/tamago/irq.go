package tamago

import (
	"errors"
	"sync"

	"github.com/tamaswap/tamaswap/board/internal/irq"
	"github.com/tamaswap/tamaswap/drivers/virtioblk"
)

// route is a disk's routed interrupt (Route, irq_amd64.go).
type route struct {
	mu     sync.Mutex
	vector uint8 // 0: not routed
	mask   func(masked bool) error
	on     bool
}

// ErrNotRouted is returned by UseInterrupts(true) for a disk Route has
// not wired: it polls.
var ErrNotRouted = errors.New("tamago: the disk's interrupt is not routed")

// Vector is the CPU vector the disk's interrupt raises once routed, 0
// before.
func (d *Disk) Vector() int {
	d.route.mu.Lock()
	defer d.route.mu.Unlock()
	return int(d.route.vector)
}

// Interrupts reports whether the disk completes requests by interrupt.
func (d *Disk) Interrupts() bool {
	d.route.mu.Lock()
	defer d.route.mu.Unlock()
	return d.route.on
}

// UseInterrupts switches a routed disk to completion by interrupt (its
// I/O APIC entry or MSI-X entry unmasked, then the driver sleeping on
// it) or back to polling (the driver polling, then the entry masked),
// also with requests in flight.
func (d *Disk) UseInterrupts(on bool) error {
	r := &d.route
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.vector == 0 {
		if on {
			return ErrNotRouted
		}
		return nil
	}
	if err := irq.Switch(d.Device, on, func(on bool) error { return r.mask(!on) }); err != nil {
		return err
	}
	r.on = on
	return nil
}

// Handler returns the interrupt service routine for the routed disks:
// given a vector, it completes the disk whose vector it is. It is what
// upstream's amd64.CPU.ServiceInterrupts takes, on the goroutine that
// services interrupts. It allocates nothing.
func Handler(disks []*Disk) func(vector int) {
	var byVector [256]*virtioblk.Device
	for _, d := range disks {
		if v := d.Vector(); v != 0 {
			byVector[v] = d.Device
		}
	}
	return func(vector int) {
		if vector >= 0 && vector < len(byVector) && byVector[vector] != nil {
			byVector[vector].Interrupt()
		}
	}
}
