package pcie

import "fmt"

// VirtioMSIX says which MSI-X table entries a virtio-pci function's
// events use: configuration changes (config_msix_vector) and each
// virtqueue's used buffer notifications (queue_msix_vector), virtio 1.2
// §4.1.5.1.2. The platform points entries 0 to Entries-1 at CPU vectors.
type VirtioMSIX struct {
	Config  uint16   // the entry of configuration change notifications
	Queues  []uint16 // queue q's entry
	Entries int      // entries used, from 0
}

// PerQueue reports whether each queue has an entry of its own.
func (v VirtioMSIX) PerQueue() bool { return v.Entries > 1 }

// LayoutVirtioMSIX lays out the events of a function with queues
// virtqueues on an MSI-X table of tableSize entries when the platform has
// vectors CPU vectors left for it. With more than one queue and room for
// one entry each, configuration changes take entry 0 and queue q entry
// 1+q, so that one queue's completion interrupts only its own waiters
// (Linux's virtio-pci transport tries the same first: vp_find_vqs_msix
// with per_vq_vectors, drivers/virtio/virtio_pci_common.c). Otherwise
// every event shares entry 0, which a single queue loses nothing by.
func LayoutVirtioMSIX(queues, tableSize, vectors int) (VirtioMSIX, error) {
	switch {
	case queues < 1:
		return VirtioMSIX{}, fmt.Errorf("pcie: %d virtqueues", queues)
	case tableSize < 1:
		return VirtioMSIX{}, fmt.Errorf("pcie: MSI-X table of %d entries", tableSize)
	case vectors < 1:
		return VirtioMSIX{}, fmt.Errorf("pcie: no CPU vector left for MSI-X")
	}
	v := VirtioMSIX{Queues: make([]uint16, queues), Entries: 1}
	if queues > 1 && tableSize >= 1+queues && vectors >= 1+queues {
		for q := range v.Queues {
			v.Queues[q] = uint16(1 + q)
		}
		v.Entries = 1 + queues
	}
	return v, nil
}
