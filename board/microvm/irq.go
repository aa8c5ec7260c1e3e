//go:build tamago && amd64

package microvm

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tamaswap/tamaswap/board/pcie"
	"github.com/tamaswap/tamaswap/board/x86"
	"github.com/tamaswap/tamaswap/virtio"
)

// Interrupt lines of QEMU's microvm as hw/i386/microvm.c (QEMU 7.2 and
// 10.0) wires them with its defaults (acpi=on, ioapic2=auto):
// microvm_devices_init creates the second I/O APIC (line 180:
// ioapic_init_secondary, at IO_APIC_SECONDARY_ADDRESS = 0xfec00000 +
// 0x10000 with GSIs from IO_APIC_SECONDARY_IRQBASE = 24,
// include/hw/i386/x86.h), then gives virtio-mmio transport i GSI
// virtio_irq_base + i with virtio_irq_base = IO_APIC_SECONDARY_IRQBASE
// for IOAPIC_NUM_PINS (24) transports (lines 187-200), and the PCI Express
// host bridge's four INTx lines GSIs pcie_irq_base = 16 to 19 (line 188;
// create_gpex connects gpex irq i to GSI gpex.irq + i, line 144). gpex
// swizzles a function's pin onto them (hw/pci-host/gpex.c,
// gpex_host_realize: pci_swizzle_map_irq_fn, (slot + pin) mod 4).
// Without ACPI or with ioapic2=off the second I/O APIC is absent and the
// virtio-mmio lines move (lines 185-194): the board then wires no
// virtio-mmio interrupt, and those disks poll.
const (
	ioapic1Base    = 0xfec00000
	ioapic2Base    = 0xfec10000
	ioapic2GSIBase = 24
	virtioGSIBase  = ioapic2GSIBase
	pcieGSIBase    = 16
	pcieINTxLines  = 4
)

// Interrupt vectors (Intel SDM Vol. 3A §6.2: 32-255 are free for
// external interrupts): GSI g raises vector gsiVector0+g, MSI-X disks
// take the vectors after the 48 GSIs. Each has an entry stub
// (irq_amd64.s) that marks its bit in irqPending. The local APIC timer
// keeps vector 255 (wakeVector).
const (
	gsiVector0   = 32
	gsis         = 48
	msixVector0  = gsiVector0 + gsis
	stubVectors  = 64                 // vectors 32-95 have a stub
	msixVectors  = stubVectors - gsis // 80-95
	lapicIDReg   = 0x20
	lapicIDShift = 24
)

// Shared with irq_amd64.s and idle_amd64.s; accessed atomically.
var (
	// irqPending has bit v-gsiVector0 set when vector v was raised
	// since the handler goroutine last looked.
	irqPending uint64
	// irqAsleep is 1 while the handler goroutine is in (or about to
	// enter) its sleep: with one CPU the entry stub then wakes it with
	// runtime.WakeG, as package amd64's handleInterrupt does, and sets
	// it to 0 once it did; with several, the idle governor sets it to 2
	// when it reset irqWake.
	irqAsleep uint32
	// irqG is the handler goroutine (runtime.GetG).
	irqG uint64
)

// defined in irq_amd64.s
func irqStubsAddr() uint64

// stubSize is the size of one entry stub: a CALL rel32.
const stubSize = 5

var irqs struct {
	mu       sync.Mutex
	started  bool
	handlers [stubVectors]atomic.Pointer[[]func()]
	nextMSIX uint8
	ioapic   [2]*x86.IOAPIC
	msix     map[*virtio.PCI]pcie.VirtioMSIX // what wireMSIX mapped
}

// Completer is what a wired interrupt drives: virtioblk.Device.
type Completer interface {
	// Interrupt acknowledges the device's interrupt and completes what
	// it finished; it may block briefly.
	Interrupt()
	// UseInterrupts switches the device between interrupts and
	// polling, also with requests in flight.
	UseInterrupts(on bool)
}

// Interrupt is a virtio disk's completion interrupt as the board wires
// it: a virtio-mmio slot's I/O APIC line, or a PCI function's MSI-X
// vector (its INTx line where it has no MSI-X). It implements the
// shell's Interrupter.
type Interrupt struct {
	line int // GSI, or the vector of an MSI-X message
	mask func(masked bool) error
	dev  Completer
	mu   sync.Mutex
	on   atomic.Bool
}

// Line is the I/O APIC GSI (virtio-mmio, PCI INTx) or the CPU vector the
// MSI-X message carries (PCI; with a vector per queue, the first, which
// carries configuration changes).
func (i *Interrupt) Line() int { return i.line }

// Interrupts reports whether the disk completes requests by interrupt.
func (i *Interrupt) Interrupts() bool { return i.on.Load() }

// UseInterrupts switches the disk to interrupts (the line unmasked, the
// device asked for notifications) or to polling (the other way round),
// also with requests in flight: the driver re-checks its ring after each
// switch.
func (i *Interrupt) UseInterrupts(on bool) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if on {
		if err := i.mask(false); err != nil {
			return err
		}
		i.dev.UseInterrupts(true)
	} else {
		i.dev.UseInterrupts(false)
		if err := i.mask(true); err != nil {
			return err
		}
	}
	i.on.Store(on)
	return nil
}

// InterruptsByDefault is the mode a program should put a wired disk in
// (see the README, "Interrupts", for the measurements behind it).
const InterruptsByDefault = true

// HybridPoll is how long a request waiting by interrupt polls its used
// ring before it sleeps (virtioblk.Device.SetHybridPoll), chosen by
// measurement with InterruptsByDefault: under TCG an interrupt's round
// trip through the I/O APIC or MSI-X, the halt and the handler goroutine
// adds about 40 µs to a 4 KiB read that polling completes in 70, and a
// 200 µs window takes nearly all of them from the ring (README, table of
// defaults); a slower request still lets the CPU halt after it.
const HybridPoll = 200 * time.Microsecond

// ErrNoInterrupt is returned by WireInterrupt for a device the board
// cannot wire: it polls.
var ErrNoInterrupt = errors.New("microvm: no interrupt for this device")

// WireInterrupt routes t's interrupt to dev.Interrupt, masked: the disk
// polls until UseInterrupts(true). t must come from BlockTransports.
// Interrupts need the board's own idle (TCG); under KVM it returns
// ErrNoInterrupt.
func WireInterrupt(t virtio.Transport, dev Completer) (*Interrupt, error) {
	w, ok := wires.get(t)
	if !ok {
		return nil, fmt.Errorf("%w: not one of BlockTransports'", ErrNoInterrupt)
	}
	if !idling {
		return nil, fmt.Errorf("%w: interrupts need the board's idle, which runs without KVM only", ErrNoInterrupt)
	}
	irqs.mu.Lock()
	defer irqs.mu.Unlock()
	if !irqs.started {
		installStubs()
		if ncpu > 1 {
			irqWake = time.NewTimer(handlerSleep)
		}
		go serveInterrupts()
		irqs.started = true
	}
	i := &Interrupt{dev: dev}
	handler := dev.Interrupt
	if w.fn == nil {
		gsi := virtioGSIBase + w.slot
		if err := routeGSI(gsi, handler); err != nil {
			return nil, err
		}
		i.line = gsi
		i.mask = func(m bool) error { return ioapicOf(gsi).Mask(gsi, m) }
		return i, nil
	}
	if p, ok := t.(*virtio.PCI); ok && !t.Legacy() {
		if v, mask, err := wireMSIX(w.fn, p, dev); err == nil {
			i.line = int(v)
			i.mask = mask
			return i, nil
		} else if !errors.Is(err, pcie.ErrNoMSIX) {
			return nil, err
		}
	}
	pin := w.fn.InterruptPin()
	if pin == 0 {
		return nil, fmt.Errorf("%w: pci %v has neither MSI-X nor INTx", ErrNoInterrupt, w.fn)
	}
	gsi := pcieGSIBase + (int(w.fn.Device)+int(pin)-1)%pcieINTxLines
	if err := routeGSI(gsi, handler); err != nil {
		return nil, err
	}
	i.line = gsi
	i.mask = func(m bool) error { return ioapicOf(gsi).Mask(gsi, m) }
	return i, nil
}

// QueueCompleter is a Completer with several virtqueues that can each be
// reaped on their own (a multi-queue virtioblk.Device): given one, a PCI
// function with room in its MSI-X table and enough free vectors gets a
// vector per queue (see pcie.LayoutVirtioMSIX).
type QueueCompleter interface {
	Completer
	// NumQueues is the number of virtqueues the device runs.
	NumQueues() int
	// QueueInterrupt completes what queue q finished; like Interrupt
	// it may block briefly.
	QueueInterrupt(q int)
}

// wireMSIX points the function's MSI-X table entries at the next free
// vectors and maps the device's configuration and queue events to them
// (virtio 1.2 §4.1.5.1.2): one entry for everything, or with a
// QueueCompleter of several queues, entry 0 for configuration changes
// (dev.Interrupt) and entry 1+q for queue q (dev.QueueInterrupt(q)).
// The messages name the BSP. The entries stay masked; mask masks or
// unmasks them all. It returns the first entry's vector. irqs.mu is held.
func wireMSIX(fn *pcie.Function, p *virtio.PCI, dev Completer) (first uint8, mask func(bool) error, err error) {
	m, err := fn.MSIX()
	if err != nil {
		return 0, nil, err
	}
	queues := 1
	qc, multi := dev.(QueueCompleter)
	if multi {
		queues = max(qc.NumQueues(), 1)
	}
	layout, err := pcie.LayoutVirtioMSIX(queues, m.TableSize(), msixVectors-int(irqs.nextMSIX))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: pci %v: %v", ErrNoInterrupt, fn, err)
	}
	first = msixVector0 + irqs.nextMSIX
	for e := 0; e < layout.Entries; e++ {
		addr, data := x86.MSIMessage(first+uint8(e), bspAPICID())
		if err := m.SetEntry(e, addr, data); err != nil {
			return 0, nil, err
		}
	}
	for e, h := range msixHandlers(layout, dev, qc) {
		addHandler(first+uint8(e), h)
	}
	m.Enable()
	for q, e := range layout.Queues {
		if err := p.SetMSIXVectors(layout.Config, uint16(q), e); err != nil {
			m.Disable()
			return 0, nil, fmt.Errorf("pci %v: %w", fn, err)
		}
	}
	irqs.nextMSIX += uint8(layout.Entries)
	if irqs.msix == nil {
		irqs.msix = make(map[*virtio.PCI]pcie.VirtioMSIX)
	}
	irqs.msix[p] = layout
	mask = func(masked bool) error {
		for e := 0; e < layout.Entries; e++ {
			if err := m.Mask(e, masked); err != nil {
				return err
			}
		}
		return nil
	}
	return first, mask, nil
}

// RestoreMSIXVectors maps t's configuration and queue events to the
// MSI-X table entries WireInterrupt gave them, again. A device reset
// unmaps them (virtio 1.2 §4.1.5.1.2; QEMU hw/virtio/virtio.c
// virtio_reset sets config_vector and every queue's vector back to
// VIRTIO_NO_VECTOR), while the table entries and the MSI-X enable bit,
// PCI state, stay; a driver started again on t after a reset calls it
// before it switches to interrupts. A transport WireInterrupt gave no
// MSI-X entries (virtio-mmio's I/O APIC lines, INTx) has nothing to
// restore.
func RestoreMSIXVectors(t virtio.Transport) error {
	p, ok := t.(*virtio.PCI)
	if !ok {
		return nil
	}
	irqs.mu.Lock()
	layout, ok := irqs.msix[p]
	irqs.mu.Unlock()
	if !ok {
		return nil
	}
	for q, e := range layout.Queues {
		if err := p.SetMSIXVectors(layout.Config, uint16(q), e); err != nil {
			return fmt.Errorf("microvm: %w", err)
		}
	}
	return nil
}

// msixHandlers returns each MSI-X entry's handler for layout: the whole
// device's Interrupt on entry 0 (everything, or configuration changes
// only), queue q's QueueInterrupt on entry 1+q.
func msixHandlers(layout pcie.VirtioMSIX, dev Completer, qc QueueCompleter) []func() {
	hs := make([]func(), layout.Entries)
	hs[0] = dev.Interrupt
	if layout.PerQueue() {
		for q, e := range layout.Queues {
			hs[e] = func() { qc.QueueInterrupt(q) }
		}
	}
	return hs
}

// routeGSI programs gsi's redirection entry, masked and edge triggered:
// a virtio-mmio transport holds its line high while InterruptStatus is
// non-zero, and Device.Interrupt acknowledges before it takes the used
// ring, so each new completion raises a new edge. A PCI INTx line that
// two functions share can stay high across one's acknowledgement; the
// driver's re-check every 10 ms covers that. irqs.mu is held.
func routeGSI(gsi int, handler func()) error {
	a := ioapicOf(gsi)
	if a == nil || !a.Present() {
		return fmt.Errorf("%w: no I/O APIC for GSI %d (microvm with acpi=off or ioapic2=off)", ErrNoInterrupt, gsi)
	}
	v := uint8(gsiVector0 + gsi)
	if e, err := a.Entry(gsi); err != nil {
		return err
	} else if uint8(e) != v {
		// First disk on this line: route it.
		if err := a.Route(gsi, v, bspAPICID(), false); err != nil {
			return err
		}
	}
	addHandler(v, handler)
	return nil
}

func ioapicOf(gsi int) *x86.IOAPIC {
	if irqs.ioapic[0] == nil {
		irqs.ioapic[0] = &x86.IOAPIC{Regs: x86.NewMMIO(ioapic1Base, 0x20)}
		irqs.ioapic[1] = &x86.IOAPIC{Regs: x86.NewMMIO(ioapic2Base, 0x20), GSIBase: ioapic2GSIBase}
	}
	if gsi >= ioapic2GSIBase {
		return irqs.ioapic[1]
	}
	return irqs.ioapic[0]
}

func addHandler(v uint8, h func()) {
	slot := &irqs.handlers[v-gsiVector0]
	var hs []func()
	if old := slot.Load(); old != nil {
		hs = append(hs, *old...)
	}
	hs = append(hs, h)
	slot.Store(&hs)
}

// bspAPICID is where every device interrupt goes: the BSP (with several
// CPUs the goroutine asking may run on an AP; see smp.go).
func bspAPICID() uint8 { return uint8(bspID) }

// installStubs points IDT vectors 32-95 at their entry stubs.
func installStubs() {
	base := irqStubsAddr()
	for i := 0; i < stubVectors; i++ {
		setGate(gsiVector0+i, base+uint64(i)*stubSize)
	}
}

// handlerSleep bounds the handler goroutine's sleep; an interrupt ends
// it early.
const handlerSleep = time.Hour

// irqWake is what the handler goroutine sleeps on with several CPUs
// (see smp.go); nil with one.
var irqWake *time.Timer

// serveInterrupts is the handler goroutine: the entry stubs mark their
// vector pending and wake it (with several CPUs the idle governor wakes
// it); it calls each pending vector's handlers. An interrupt that comes
// while it runs is seen before it sleeps again; one that comes just as
// it falls asleep, when the stub cannot wake it yet, is seen by the
// idle governor, which wakes it before halting.
func serveInterrupts() {
	gp, _ := runtime.GetG()
	atomic.StoreUint64(&irqG, uint64(gp))
	for {
		if irqWake != nil {
			// Before irqAsleep: a Reset(0) from interruptWaiting
			// must not be undone. Reset drops a value that fired
			// while the goroutine was awake (Go 1.23 timers).
			irqWake.Reset(handlerSleep)
		}
		atomic.StoreUint32(&irqAsleep, 1)
		if atomic.LoadUint64(&irqPending) == 0 {
			if irqWake != nil {
				<-irqWake.C
			} else {
				time.Sleep(handlerSleep)
			}
		}
		atomic.StoreUint32(&irqAsleep, 0)
		for p := atomic.SwapUint64(&irqPending, 0); p != 0; p &= p - 1 {
			if hs := irqs.handlers[bits.TrailingZeros64(p)].Load(); hs != nil {
				for _, h := range *hs {
					h()
				}
			}
		}
	}
}

// interruptWaiting is the idle governor's check: an interrupt is pending
// for the handler goroutine, which sleeps. It wakes it; the scheduler
// then finds it runnable instead of halting.
//
//go:nosplit
func interruptWaiting() bool {
	if atomic.LoadUint64(&irqPending) == 0 || atomic.LoadUint32(&irqAsleep) == 0 {
		return false
	}
	if ncpu > 1 {
		// Several CPUs: the goroutine waits on irqWake, reset
		// here, once per sleep (see smp.go).
		if atomic.CompareAndSwapUint32(&irqAsleep, 1, 2) {
			irqWake.Reset(0)
		}
		return true
	}
	runtime.Wake(uint(atomic.LoadUint64(&irqG)))
	return true
}

// wire is where a transport's interrupt comes from: a virtio-mmio slot,
// or a PCI function.
type wire struct {
	slot int // virtio-mmio slot, -1 for PCI
	fn   *pcie.Function
}

// wires records each transport BlockTransports returned.
var wires wireMap

type wireMap struct {
	mu sync.Mutex
	m  map[virtio.Transport]wire
}

func (w *wireMap) add(t virtio.Transport, x wire) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[virtio.Transport]wire)
	}
	w.m[t] = x
}

func (w *wireMap) get(t virtio.Transport) (wire, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	x, ok := w.m[t]
	return x, ok
}
