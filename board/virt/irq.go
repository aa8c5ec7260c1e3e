//go:build tamago && arm64

package virt

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tamaswap/tamaswap/board/arm64"
	"github.com/tamaswap/tamaswap/board/internal/gic"
	"github.com/tamaswap/tamaswap/board/internal/irq"
	"github.com/tamaswap/tamaswap/virtio"
)

// Device interrupts of QEMU's virt machine, as INTIDs (32 + SPI number).
// hw/arm/virt.c's a15irqmap gives [VIRT_MMIO] = 16 ("...to 16 +
// NUM_VIRTIO_TRANSPORTS - 1") and [VIRT_PCIE] = 3 ("... to 6"); the
// device tree QEMU 7.2 and 10.0 build from it (-M virt,dumpdtb=F, dtc -I
// dtb) says the same: virtio_mmio@a000000 { interrupts = <0x00 0x10 0x01>
// } up to virtio_mmio@a003e00 { interrupts = <0x00 0x2f 0x01> }, and
// pcie@10000000's interrupt-map sends INTA-INTD of device slot s to SPI
// 3 + (s + pin - 1) mod 4 (create_pcie_irq_map, the swizzle of
// pci_swizzle_map_irq_fn).
const (
	VirtioMMIOIRQ = 32 + 16 // slot i: VirtioMMIOIRQ + i
	PCIeINTxIRQ   = 32 + 3  // INTA of slot 0; four lines
)

// The lines are configured level-sensitive. The device tree calls the
// virtio-mmio ones edge-triggered, but QEMU holds the line high while
// InterruptStatus is not zero (hw/virtio/virtio-mmio.c,
// virtio_mmio_update_irq), as virtio-pci holds INTx until the ISR status
// is read: a level line stays pending while a device still asserts it,
// so no completion that arrives while the handler runs is lost.
const devicePriority = 0x80 // below the timer's 0, above the mask 0xff

// Distributor is virt's GICv3 distributor, with affinity routing as
// TamaGo's gic.Init sets it.
var Distributor = &gic.Distributor{Regs: arm64.NewMMIO(GICDBase, 0x10000), V3: true}

// gicv3 is the controller as package irq uses it: TamaGo's CPU
// interface (ICC_IAR0_EL1, then ICC_EOIR0_EL1) and our distributor.
type gicv3 struct{}

func (gicv3) Acknowledge() int { return GIC.GetInterrupt() }
func (gicv3) Disable(id int)   { Distributor.Disable(id) }
func (gicv3) Enable(id int)    { Distributor.Enable(id) }

// lines are the device interrupts: the idle routine drains them after
// WFI, the service goroutine runs the drivers' handlers.
var lines = &irq.Lines{Ctl: gicv3{}}

// readMPIDR returns MPIDR_EL1, the boot CPU's affinity (irq_arm64.s).
func readMPIDR() uint64

var (
	lineMu     sync.Mutex
	lineOf     = map[virtio.Transport]int{} // filled by the transports' probes
	configured = map[int]bool{}
)

// DefaultInterrupts is whether disks complete by interrupt from boot (see
// the README's table of defaults, and results/, for the measurements that
// chose it).
const DefaultInterrupts = true

// HybridPoll is how long a request waiting by interrupt polls its used
// ring before it sleeps (virtioblk.Device.SetHybridPoll), chosen by
// measurement with DefaultInterrupts.
const HybridPoll = 100 * time.Microsecond

// DiskInterrupt wires the interrupt of a virtio device found by
// BlockTransports to its driver: the GIC routes the line, as Secure Group
// 0, to the boot CPU; dev's Interrupt runs in the service goroutine. The
// disk polls until UseInterrupts(true).
func DiskInterrupt(t virtio.Transport, dev irq.Completer) (*irq.Disk, error) {
	lineMu.Lock()
	defer lineMu.Unlock()
	id, ok := lineOf[t]
	if !ok {
		return nil, errors.New("virt: no interrupt line known for this device")
	}
	if !configured[id] {
		err := Distributor.Configure(gic.SPI{ID: id, Priority: devicePriority, Target: readMPIDR() & gic.IROUTER_AFF})
		if err != nil {
			return nil, fmt.Errorf("virt: %w", err)
		}
		configured[id] = true
	}
	return irq.NewDisk(lines, id, dev)
}
