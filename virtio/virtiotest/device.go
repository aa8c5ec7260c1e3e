// Package virtiotest is an in-process virtio-blk device for tests, fuzzing
// and benchmarks, written from the device side of the OASIS virtio 1.2
// specification (§2 basic facilities, §2.7 split virtqueues, §4.1
// virtio-pci, §4.2 virtio-mmio, §5.2 block device).
//
// A Device serves the register layouts QEMU 7.2 serves — virtio-mmio
// version 2 and legacy version 1, virtio-pci modern (capabilities in BAR4)
// and transitional (the legacy I/O BAR0 block) — and reads the rings and
// buffers a driver puts in the memory returned by DMA, backed by a
// block.Mem. It checks what the driver does the way QEMU does: a bad
// descriptor chain or ring index puts the device in DEVICE_NEEDS_RESET, a
// bad request completes with VIRTIO_BLK_S_IOERR or UNSUPP, a register
// access of the wrong width is ignored and counted (BadAccesses). It never
// panics on anything a driver writes.
//
// With Config.NumQueues above 1 it offers VIRTIO_BLK_F_MQ and serves that
// many request queues (§5.2.2), each with its own notify address and
// MSI-X vector register on PCI, as QEMU's num-queues does.
//
// On request it lies (Config.Lie): it writes used-ring entries a correct
// driver has to reject, so driver tests can check that it does, or it
// stops answering, even after a reset it then ignores; Config.QueueLies
// gives each queue a lie of its own. Its interrupt line
// (Config.OnInterrupt) can lose edges (Config.DropInterrupts), and
// Config.OnQueueInterrupt stands for per-queue MSI-X vectors.
//
//	m, _ := virtiotest.New(virtiotest.Config{Transport: virtiotest.MMIOModern})
//	defer m.Close()
//	t, _ := virtio.NewMMIO(m.MMIO())
//	d, _ := virtioblk.New(t, m.DMA())
package virtiotest

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/virtio"
)

// Transport selects the register layout a Device serves.
type Transport int

const (
	MMIOModern Transport = iota // virtio-mmio version 2
	MMIOLegacy                  // virtio-mmio version 1 (GuestPageSize, QueuePFN, QueueAlign)
	PCIModern                   // virtio-pci modern only, device id 0x1042, caps in BAR4 like QEMU
	PCILegacy                   // virtio-pci transitional device 0x1001 driven through the legacy I/O BAR0
)

// String names the transport as the tests' subtests do: "mmio-modern", …
func (t Transport) String() string {
	switch t {
	case MMIOModern:
		return "mmio-modern"
	case MMIOLegacy:
		return "mmio-legacy"
	case PCIModern:
		return "pci-modern"
	case PCILegacy:
		return "pci-legacy"
	}
	return fmt.Sprintf("Transport(%d)", int(t))
}

func (t Transport) legacy() bool { return t == MMIOLegacy || t == PCILegacy }
func (t Transport) pci() bool    { return t == PCIModern || t == PCILegacy }

// Lie is a hostile behaviour: what the device writes into the used ring
// instead of an honest completion.
type Lie int

// The lies, after Honest, which tells none.
const (
	Honest               Lie = iota
	LieUsedIDOutOfRange      // used elem id >= queue size
	LieUsedIDNotInFlight     // used elem id that is not the head of an in-flight chain
	LieUsedLenTooLong        // used len larger than the chain's device-writable bytes
	LieUsedIdxJump           // used idx advanced by more than the queue size
	LieStatusByte            // status byte that is not OK/IOERR/UNSUPP
	LieDoubleComplete        // the same head completed twice
	LieRandom                // any of the above at random, from Config.Seed

	// The lies below are about time, not the used ring: the device
	// takes requests and never answers them.

	// LieSilent accepts requests and never completes them: no data
	// moves, nothing reaches the used ring. A reset still stops it.
	LieSilent
	// LieIgnoreReset holds requests like LieSilent, and once it holds
	// one it ignores resets: status 0 (or a legacy queue address of 0)
	// leaves its view of the rings as it was and the status register
	// never reads 0, and it keeps writing the device-writable buffers of
	// the requests it holds, after the driver has given up on them, as a
	// device whose reset has not taken effect may (Scribbles counts the
	// writes).
	LieIgnoreReset
)

// String is the constant's name.
func (l Lie) String() string {
	switch l {
	case Honest:
		return "Honest"
	case LieUsedIDOutOfRange:
		return "LieUsedIDOutOfRange"
	case LieUsedIDNotInFlight:
		return "LieUsedIDNotInFlight"
	case LieUsedLenTooLong:
		return "LieUsedLenTooLong"
	case LieUsedIdxJump:
		return "LieUsedIdxJump"
	case LieStatusByte:
		return "LieStatusByte"
	case LieDoubleComplete:
		return "LieDoubleComplete"
	case LieRandom:
		return "LieRandom"
	case LieSilent:
		return "LieSilent"
	case LieIgnoreReset:
		return "LieIgnoreReset"
	}
	return fmt.Sprintf("Lie(%d)", int(l))
}

// Config configures a Device.
type Config struct {
	Transport Transport  // the register interface the model speaks
	Disk      *block.Mem // backing store; nil: 16 MiB of 512-byte sectors, read-write
	QueueSize uint16     // QueueNumMax offered; 0 means 256
	Features  uint64     // feature bits offered; 0 means all the model implements (VERSION_1 only on modern transports)
	Packed    bool       // also offer VIRTIO_F_RING_PACKED (modern transports): a driver that takes it gets a packed queue
	// NumQueues is the number of request queues (config num_queues);
	// above 1 the device offers VIRTIO_BLK_F_MQ, as QEMU does for
	// num-queues > 1. 0 means 1; at most MaxQueues.
	NumQueues int
	BlkSize   uint32 // config blk_size (with BLK_SIZE); 0 means the Disk's sector size
	SegMax    uint32 // config seg_max (with SEG_MAX); 0 means QueueSize-2
	SizeMax   uint32 // config size_max (with SIZE_MAX); 0 means SIZE_MAX not offered
	Serial    string // GET_ID answer
	DMASize   int    // size of the shared memory; 0 means 8 MiB
	// Memory, when not nil, is the shared memory instead of a new
	// allocation of DMASize bytes: from NewMemory, or page-aligned and
	// a multiple of 4 KiB long. The model uses it as it finds it until
	// Close. Tests that start many models (fuzz targets) reuse theirs:
	// fresh large allocations cost page faults on every start.
	Memory   []byte
	Lie      Lie   // what to lie about; Honest by default
	LieAfter int   // answer this many requests honestly first
	Seed     int64 // seeds the choices of LieRandom and the values the lies write
	// QueueLies gives request queue i the lie QueueLies[i] instead of
	// Lie (queues past its end tell Lie), so that a test can show that
	// one queue's lie breaks a driver's whole device while another
	// queue answers honestly or holds its requests.
	QueueLies []Lie
	// FailIO is asked about every read (write=false) and write, discard
	// and write-zeroes segment (write=true) that is otherwise valid;
	// sector is the request's, in 512-byte units. True completes the
	// request with VIRTIO_BLK_S_IOERR without transferring data. It runs
	// with the device locked and must not call the Device.
	FailIO func(write bool, sector int64) bool
	Sync   bool // serve requests inside the notify write, not in the device goroutine
	// OnInterrupt is the device's interrupt line: it is called where a
	// real device would raise an interrupt, after the driver's
	// suppression (a used buffer notification, or a configuration change
	// such as DEVICE_NEEDS_RESET), once for each batch of used buffers
	// the device goroutine puts in the ring. It runs in the device
	// goroutine without the model's lock held, so it may call the
	// driver's interrupt handler; New refuses it with Sync, where it
	// would run inside the driver's own notify.
	OnInterrupt func()
	// OnQueueInterrupt, when set, takes the used buffer notifications
	// of each queue q instead of OnInterrupt, as a per-queue MSI-X
	// vector would (configuration changes still go to OnInterrupt). It
	// runs as OnInterrupt does, and DropInterrupts counts its calls
	// too.
	OnQueueInterrupt func(q int)
	// DropInterrupts skips the first that many OnInterrupt calls, the
	// interrupt status bit left set, as a lost edge would leave it
	// (DroppedInterrupts counts them).
	DropInterrupts int
}

// MaxQueues bounds Config.NumQueues: the model's MSI-X table (in a 4 KiB
// BAR, PBA at 0x800) holds the num_queues+1 vectors QEMU gives
// virtio-blk-pci with room to spare.
const MaxQueues = 64

// DMABase is the device address of the first byte of a Device's shared
// memory. It is page aligned and the memory lies below 4 GiB, so that
// legacy queue page numbers (32 bits) reach all of it.
const DMABase = 0x4000_0000

// NewMemory returns size bytes (rounded up to 4 KiB) of zeroed, page-aligned
// host memory for Config.Memory. Page alignment makes device addresses and
// host addresses agree in their low bits: the ring words that the driver
// and the device share with atomics are then aligned on both sides.
func NewMemory(size int) []byte {
	size = (size + 4095) &^ 4095
	raw := make([]byte, size+4096)
	skip := int(-uintptr(unsafe.Pointer(&raw[0])) & 4095)
	return raw[skip : skip+size : skip+size]
}

// maxDMASize bounds Config.DMASize: 2 GiB, or on 32-bit machines 1 GiB so
// that the size rounded up, plus the page that aligns it, still fits an
// int.
const maxDMASize = min(1<<31, math.MaxInt>>1+1)

// Device is a virtio-blk device model. Its register windows are safe for
// concurrent use.
type Device struct {
	cfg       Config
	transport Transport
	disk      *block.Mem
	mem       []byte
	region    *virtio.Region
	offered   uint64
	queueMax  uint16
	blkSize   uint32 // bytes
	segMax    uint32
	sizeMax   uint32
	capacity  uint64 // 512-byte sectors
	config    [blkConfigSize]byte
	serial    [blkIDBytes]byte

	mu         sync.Mutex
	status     uint8
	needsReset bool
	fault      string
	drvFeat    uint64 // driver feature windows as written
	negotiated uint64
	dfSel      uint32
	gfSel      uint32
	queueSel   uint32
	qs         []virtqueue // the request queues; queue_select picks one
	isr        uint8
	configGen  uint8
	genChurn   int  // config reads left that bump configGen
	pageShift  uint // virtio-mmio version 1 GuestPageSize
	cfgVector  uint16
	pci        pciState
	rng        *rand.Rand
	segs       []segment // scratch for one descriptor chain
	closed     bool
	lastBad    badAccess
	held       [][]byte // device-writable buffers of requests held by LieSilent or LieIgnoreReset
	holdOn     bool     // LieIgnoreReset holds one of them: resets are ignored
	raise      int      // interrupts to raise once the device goroutine lets go of mu
	raiseQs    uint64   // queues whose used buffer notifications those include
	raiseCfg   bool     // and whether a configuration change is among them
	dropped    int      // OnInterrupt calls skipped so far

	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	requests    atomic.Uint64
	badAccesses atomic.Uint64
	limitErrors atomic.Uint64
	notifies    atomic.Uint64
	interrupts  atomic.Uint64
	heldReqs    atomic.Uint64
	scribbles   atomic.Uint64
	ignored     atomic.Uint64
	droppedIRQs atomic.Uint64
}

// New returns a device as cfg describes, its device goroutine running
// unless cfg.Sync is set.
func New(cfg Config) (*Device, error) {
	if cfg.Transport < MMIOModern || cfg.Transport > PCILegacy {
		return nil, fmt.Errorf("virtiotest: unknown transport %d", int(cfg.Transport))
	}
	for _, l := range append([]Lie{cfg.Lie}, cfg.QueueLies...) {
		if l < Honest || l > LieIgnoreReset {
			return nil, fmt.Errorf("virtiotest: unknown lie %d", int(l))
		}
	}
	if (cfg.OnInterrupt != nil || cfg.OnQueueInterrupt != nil) && cfg.Sync {
		return nil, fmt.Errorf("virtiotest: OnInterrupt with Sync would run inside the driver's notify")
	}
	nq := cfg.NumQueues
	if nq == 0 {
		nq = 1
	}
	if nq < 1 || nq > MaxQueues {
		return nil, fmt.Errorf("virtiotest: %d queues is not in 1..%d", cfg.NumQueues, MaxQueues)
	}
	d := &Device{cfg: cfg, transport: cfg.Transport, disk: cfg.Disk, qs: make([]virtqueue, nq)}
	if d.disk == nil {
		d.disk = block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 16 << 20 >> 9})
	}
	info := d.disk.Info()
	if info.SectorSize < 512 || info.SectorSize&(info.SectorSize-1) != 0 ||
		int64(len(d.disk.Bytes())) != info.Size() {
		return nil, fmt.Errorf("virtiotest: disk geometry %+v is not usable", info)
	}
	d.capacity = uint64(info.Size()) >> sectorShift

	// QEMU's virtio-blk takes queue sizes that are powers of two in
	// (2, VIRTQUEUE_MAX_SIZE].
	d.queueMax = cfg.QueueSize
	if d.queueMax == 0 {
		d.queueMax = 256
	}
	if d.queueMax <= 2 || d.queueMax > maxSegments || d.queueMax&(d.queueMax-1) != 0 {
		return nil, fmt.Errorf("virtiotest: queue size %d is not a power of two in 4..%d", d.queueMax, maxSegments)
	}
	d.blkSize = cfg.BlkSize
	if d.blkSize == 0 {
		d.blkSize = uint32(info.SectorSize)
	}
	if d.blkSize < 512 || d.blkSize > 1<<16 || d.blkSize&(d.blkSize-1) != 0 {
		return nil, fmt.Errorf("virtiotest: blk_size %d is not a power of two in 512..65536", d.blkSize)
	}
	d.segMax = cfg.SegMax
	if d.segMax == 0 {
		d.segMax = uint32(d.queueMax) - 2
	}
	d.sizeMax = cfg.SizeMax
	copy(d.serial[:], cfg.Serial)

	d.offered = cfg.Features
	if d.offered == 0 {
		d.offered = bit(featBlkSegMax) | bit(featBlkGeometry) | bit(featBlkBlkSize) |
			bit(featBlkFlush) | bit(featBlkTopology) | bit(featBlkDiscard) |
			bit(featBlkWriteZeroes) | bit(featIndirectDesc) | bit(featEventIdx)
		if !cfg.Transport.legacy() {
			d.offered |= bit(featVersion1)
		}
		if d.sizeMax != 0 {
			d.offered |= bit(featBlkSizeMax)
		}
		if nq > 1 {
			d.offered |= bit(featBlkMQ)
		}
	}
	if d.sizeMax == 0 {
		d.offered &^= bit(featBlkSizeMax)
	}
	if !info.ReadWrite {
		d.offered |= bit(featBlkRO)
	}
	if cfg.Packed && !cfg.Transport.legacy() {
		d.offered |= bit(featRingPacked)
	}
	if cfg.Transport.legacy() {
		d.offered &= 0xffffffff // legacy registers have one 32-bit window
	}

	if cfg.Memory != nil {
		n := len(cfg.Memory)
		if n < 4096 || n > maxDMASize || n%4096 != 0 || uintptr(unsafe.Pointer(&cfg.Memory[0]))&4095 != 0 {
			return nil, fmt.Errorf("virtiotest: memory of %d bytes is not page-aligned pages (4 KiB..%d bytes)", n, maxDMASize)
		}
		d.mem = cfg.Memory[:n:n]
	} else {
		size := cfg.DMASize
		if size == 0 {
			size = 8 << 20
		}
		if size < 4096 || size > maxDMASize {
			return nil, fmt.Errorf("virtiotest: DMA size %d is not in 4 KiB..%d bytes", size, maxDMASize)
		}
		d.mem = NewMemory(size)
	}
	region, err := virtio.NewRegion(d.mem, DMABase)
	if err != nil {
		return nil, err
	}
	d.region = region

	d.rng = rand.New(rand.NewSource(cfg.Seed))
	d.segs = make([]segment, 0, maxSegments)
	d.fillConfig()
	d.pci.init(d)
	d.resetLocked()

	d.kick = make(chan struct{}, 1)
	d.done = make(chan struct{})
	if !cfg.Sync {
		d.wg.Add(1)
		go d.run()
	}
	if slices.Contains(append([]Lie{cfg.Lie}, cfg.QueueLies...), LieIgnoreReset) {
		d.wg.Add(1)
		go d.scribble()
	}
	return d, nil
}

// run is the device goroutine: it serves the queue each time the driver
// notifies it.
func (d *Device) run() {
	defer d.wg.Done()
	for {
		select {
		case <-d.done:
			return
		case <-d.kick:
			d.mu.Lock()
			d.processQueues()
			raise, qs, cfg := d.raise > 0, d.raiseQs, d.raiseCfg
			d.raise, d.raiseQs, d.raiseCfg = 0, 0, false
			d.mu.Unlock()
			if d.cfg.OnQueueInterrupt == nil {
				if raise {
					d.deliver(d.cfg.OnInterrupt)
				}
				continue
			}
			for i := range d.qs {
				if qs&(1<<i) != 0 {
					d.deliver(func() { d.cfg.OnQueueInterrupt(i) })
				}
			}
			if cfg {
				d.deliver(d.cfg.OnInterrupt)
			}
		}
	}
}

// deliver raises one interrupt through fn, unless Config.DropInterrupts
// says to lose it.
func (d *Device) deliver(fn func()) {
	d.mu.Lock()
	drop := d.dropped < d.cfg.DropInterrupts
	if drop {
		d.dropped++
	}
	d.mu.Unlock()
	switch {
	case drop:
		d.droppedIRQs.Add(1)
	case fn != nil:
		fn()
	}
}

// scribbleEvery is how often LieIgnoreReset writes into the buffers of
// the requests it holds.
const scribbleEvery = 200 * time.Microsecond

// scribble is LieIgnoreReset's second goroutine: it keeps writing the
// held requests' device-writable buffers, with a value that changes on
// every pass and is never zero (so a zeroed buffer shows whether it was
// written, however many passes ran), until Close.
func (d *Device) scribble() {
	defer d.wg.Done()
	tick := time.NewTicker(scribbleEvery)
	defer tick.Stop()
	var v byte
	for {
		select {
		case <-d.done:
			return
		case <-tick.C:
		}
		if v++; v == 0 {
			v = 1
		}
		d.mu.Lock()
		for _, b := range d.held {
			for i := range b {
				b[i] = v
			}
		}
		if len(d.held) > 0 {
			d.scribbles.Add(1)
		}
		d.mu.Unlock()
	}
}

// DMA returns the memory shared with the driver: rings and bounce buffers
// live here, and every address in a descriptor must point into it.
func (d *Device) DMA() *virtio.Region { return d.region }

// MMIO returns the virtio-mmio register window (0x200 bytes). Only for
// the MMIO transports; on PCI transports every access is a bad access.
func (d *Device) MMIO() virtio.Regs { return splitAccess(d.mmioRead, d.mmioWrite) }

// PCI returns the PCI function. Only for the PCI transports; on MMIO
// transports its BARs fail and its configuration space reads as absent.
func (d *Device) PCI() virtio.PCIFunction { return pciFunction{d} }

// Disk returns the backing store.
func (d *Device) Disk() *block.Mem { return d.disk }

// Requests returns the number of requests served so far (answered in the
// used ring, honestly or not).
func (d *Device) Requests() uint64 { return d.requests.Load() }

// BadAccesses returns the number of register accesses the device ignored:
// wrong width or alignment, registers the transport version does not
// have, writes to read-only registers, reads of write-only ones, and
// accesses to a PCI BAR whose decoding is disabled.
func (d *Device) BadAccesses() uint64 { return d.badAccesses.Load() }

// LimitErrors returns the number of requests failed with IOERR because
// they had more data segments than seg_max or a segment larger than
// size_max.
func (d *Device) LimitErrors() uint64 { return d.limitErrors.Load() }

// Notifies returns the number of available buffer notifications received.
func (d *Device) Notifies() uint64 { return d.notifies.Load() }

// Interrupts returns the number of used buffer notifications the device
// sent (set the interrupt status bit for), after suppression by the
// driver (VIRTQ_AVAIL_F_NO_INTERRUPT or used_event).
func (d *Device) Interrupts() uint64 { return d.interrupts.Load() }

// Held returns the number of requests LieSilent or LieIgnoreReset took
// and never completed.
func (d *Device) Held() uint64 { return d.heldReqs.Load() }

// Scribbles returns the number of passes in which LieIgnoreReset wrote
// into the buffers of the requests it holds.
func (d *Device) Scribbles() uint64 { return d.scribbles.Load() }

// IgnoredResets returns the number of resets LieIgnoreReset ignored.
func (d *Device) IgnoredResets() uint64 { return d.ignored.Load() }

// DroppedInterrupts returns the number of OnInterrupt calls skipped
// (Config.DropInterrupts).
func (d *Device) DroppedInterrupts() uint64 { return d.droppedIRQs.Load() }

// Status returns the device status register as the driver would read it.
func (d *Device) Status() uint8 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.statusLocked()
}

// Features returns the features offered and the features negotiated (for
// legacy transports: accepted by the last driver features write).
func (d *Device) Features() (offered, negotiated uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.offered, d.negotiated
}

// Fault returns why the device put itself into DEVICE_NEEDS_RESET, or ""
// while it has not.
func (d *Device) Fault() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fault
}

// SetNeedsReset sets DEVICE_NEEDS_RESET and a configuration change
// interrupt, as a device that hit an internal error would (§2.1.2). The
// device serves nothing more until the driver resets it.
func (d *Device) SetNeedsReset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail("DEVICE_NEEDS_RESET set by the test")
}

// ChurnConfigGeneration makes each of the next reads accesses to the
// device configuration change config_generation, as a device whose configuration changes
// under the driver would (§2.5.1): a driver must retry until a snapshot
// is stable, and give up on a device that never lets it. Legacy
// transports have no generation to watch.
func (d *Device) ChurnConfigGeneration(reads int) {
	d.mu.Lock()
	d.genChurn = max(reads, 0)
	d.mu.Unlock()
}

// Close stops the device goroutine. Registers keep answering, but
// notifications are no longer served. Close is idempotent.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.done)
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

// bad counts an access the device ignored and remembers it for
// LastBadAccess.
func (d *Device) bad(space string, off uint32, size int, write bool) {
	d.badAccesses.Add(1)
	d.lastBad = badAccess{space, off, size, write}
}

// badAccess describes an ignored register access.
type badAccess struct {
	space string
	off   uint32
	size  int
	write bool
}

// LastBadAccess describes the last access BadAccesses counted, for test
// failure messages: "16-bit read of mmio+0x70".
func (d *Device) LastBadAccess() string {
	d.mu.Lock()
	b := d.lastBad
	d.mu.Unlock()
	if b.space == "" {
		return ""
	}
	op := "read"
	if b.write {
		op = "write"
	}
	return fmt.Sprintf("%d-bit %s of %s+%#x", 8*b.size, op, b.space, b.off)
}

func (d *Device) statusLocked() uint8 {
	s := d.status
	if d.needsReset {
		s |= statusDeviceNeedsReset
	}
	return s
}

// fail puts the device into DEVICE_NEEDS_RESET (§2.1.2), as QEMU's
// virtio_error does: the device stops serving its queue and raises a
// configuration change interrupt. The legacy interface has no such bit;
// the model sets it anyway so that a test can see what happened.
func (d *Device) fail(reason string) {
	if d.needsReset {
		return
	}
	d.needsReset = true
	d.fault = reason
	d.isr |= interruptConfigChange
	d.raise++
	d.raiseCfg = true
	if (d.cfg.OnInterrupt != nil || d.cfg.OnQueueInterrupt != nil) && !d.closed {
		select { // the device goroutine raises it
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// driverReset is a reset the driver asked for: status 0, or a legacy
// queue address of 0. LieIgnoreReset ignores it once it holds a request.
func (d *Device) driverReset() {
	if d.holdOn {
		d.ignored.Add(1)
		return
	}
	d.resetLocked()
}

// resetLocked is a device reset (§2.4): status, features, queue and
// interrupt state go back to their initial values.
func (d *Device) resetLocked() {
	d.status = 0
	d.needsReset = false
	d.fault = ""
	d.drvFeat = 0
	d.negotiated = 0
	d.dfSel, d.gfSel, d.queueSel = 0, 0, 0
	d.isr = 0
	d.pageShift = 12
	d.cfgVector = pciVirtioNoVector
	for i := range d.qs {
		d.qs[i].reset(d.queueMax, i)
	}
	clear(d.held)
	d.held = d.held[:0]
	d.holdOn = false
}

// setStatus is a driver write of the device status field (§2.1, §3.1.1).
func (d *Device) setStatus(v uint8) {
	if v == 0 {
		d.driverReset()
		return
	}
	v &^= statusDeviceNeedsReset // the device's bit; the driver cannot set it
	if !d.transport.legacy() && d.status&statusFeaturesOK == 0 && v&statusFeaturesOK != 0 {
		// §2.2.2: the device refuses FEATURES_OK when the driver accepted
		// features it did not offer; and a modern device does not
		// work with a driver that did not accept VERSION_1 (§6.1). QEMU
		// then drops the whole status write.
		if d.drvFeat&^d.offered != 0 || d.drvFeat&bit(featVersion1) == 0 {
			return
		}
		d.negotiated = d.drvFeat
	}
	was := d.status
	d.status = v
	if !d.transport.legacy() && v&statusDriverOK != 0 && v&statusFeaturesOK == 0 {
		// §3.1.1: DRIVER_OK comes after FEATURES_OK. QEMU would run the
		// queue with no features; the model says what went wrong.
		d.fail("DRIVER_OK without FEATURES_OK")
	}
	if d.transport == PCILegacy && v&statusDriverOK != 0 {
		// QEMU enables bus mastering for legacy drivers that forgot to
		// (old Linux did not).
		d.pci.enableBusMaster()
	}
	if was&statusDriverOK == 0 && v&statusDriverOK != 0 {
		d.kickLocked()
	}
}

// setDriverFeatures is a driver write of one 32-bit window of driver
// features. Legacy devices take the features at once, as QEMU does, masked
// to the ones offered; modern devices take them at FEATURES_OK.
func (d *Device) setDriverFeatures(sel uint32, v uint32) {
	if d.transport.legacy() {
		if sel == 0 {
			d.drvFeat = uint64(v)
			d.negotiated = uint64(v) & d.offered
		}
		return
	}
	if sel > 1 {
		return
	}
	shift := 32 * sel
	d.drvFeat = d.drvFeat&^(0xffffffff<<shift) | uint64(v)<<shift
}

// deviceFeatures is the 32-bit window sel of the offered features.
func (d *Device) deviceFeatures(sel uint32) uint32 {
	if sel > 1 || d.transport.legacy() && sel != 0 {
		return 0
	}
	return uint32(d.offered >> (32 * sel))
}

func (d *Device) has(f uint) bool { return d.negotiated&bit(f) != 0 }

// notify is an available buffer notification for queue index.
func (d *Device) notify(index uint32) {
	d.notifies.Add(1)
	if index >= uint32(len(d.qs)) {
		return // no such queue (num_queues, §5.2.2)
	}
	d.kickLocked()
}

// selected is the queue queue_select (QueueSel) names, nil if there is
// none.
func (d *Device) selected() *virtqueue {
	if d.queueSel >= uint32(len(d.qs)) {
		return nil
	}
	return &d.qs[d.queueSel]
}

// processQueues serves every queue. A device may look at a queue without
// a notification; the model serves them all on each one.
func (d *Device) processQueues() {
	for i := range d.qs {
		d.processQueue(&d.qs[i])
	}
}

// kickLocked makes the device look at its queues: at once with
// Config.Sync, else in the device goroutine.
func (d *Device) kickLocked() {
	if d.closed {
		return
	}
	if d.cfg.Sync {
		d.processQueues()
		return
	}
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// usable reports whether the device may consume buffers from q now
// (§3.1.1: not before DRIVER_OK).
func (d *Device) usable(q *virtqueue) bool {
	if d.needsReset || d.closed || !q.ready || d.status&statusDriverOK == 0 || d.status&statusFailed != 0 {
		return false
	}
	if !d.transport.legacy() && d.status&statusFeaturesOK == 0 {
		return false
	}
	return true
}

// fillConfig lays out struct virtio_blk_config (§5.2.4) with the values
// QEMU 7.2 puts there. Every field is filled whatever the features; the
// driver reads only those it negotiated.
func (d *Device) fillConfig() {
	c := d.config[:]
	put64(c[cfgCapacity:], d.capacity)
	put32(c[cfgSizeMax:], d.sizeMax)
	put32(c[cfgSegMax:], d.segMax)
	// QEMU guesses a CHS geometry with 16 heads and 63 sectors a track.
	cyl := d.capacity / (16 * 63)
	if cyl > 0xffff {
		cyl = 0xffff
	}
	put16(c[cfgGeomCylinders:], uint16(cyl))
	c[cfgGeomHeads] = 16
	c[cfgGeomSectors] = 63
	put32(c[cfgBlkSize:], d.blkSize)
	// physical_block_exp: log2(physical / logical); the model's physical
	// block is the disk's sector when that is larger than blk_size.
	phys := uint32(d.disk.Info().SectorSize)
	if phys > d.blkSize {
		c[cfgPhysicalBlockExp] = uint8(bits.TrailingZeros32(phys / d.blkSize))
	}
	c[cfgAlignmentOffset] = 0
	put16(c[cfgMinIOSize:], 0)
	put32(c[cfgOptIOSize:], 0)
	c[cfgWriteback] = 0
	put16(c[cfgNumQueues:], uint16(len(d.qs)))
	put32(c[cfgMaxDiscardSectors:], qemuMaxRequestSectors)
	put32(c[cfgMaxDiscardSeg:], 1)
	put32(c[cfgDiscardAlignment:], d.blkSize>>sectorShift)
	put32(c[cfgMaxWZSectors:], qemuMaxRequestSectors)
	put32(c[cfgMaxWZSeg:], 1)
	c[cfgWZMayUnmap] = 1
	// unused1[3] lies past QEMU's config_len.
}

// configRead reads size bytes of the device configuration at off, little
// endian (the legacy interface uses the guest's endianness, which is
// little endian on every platform tamaswap runs on). Past the end it reads
// all ones, as QEMU does.
func (d *Device) configRead(off uint32, size int) uint64 {
	if d.genChurn > 0 {
		d.genChurn--
		d.configGen++
	}
	if uint64(off)+uint64(size) > blkConfigSize {
		return ones(size)
	}
	var v uint64
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint64(d.config[off+uint32(i)])
	}
	return v
}

// configWrite ignores the write: the only writable field, writeback,
// needs VIRTIO_BLK_F_CONFIG_WCE, which the model does not offer.
func (d *Device) configWrite(off uint32, size int, v uint64) {}

func ones(size int) uint64 {
	if size >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*uint(size)) - 1
}

func put16(b []byte, v uint16) { b[0], b[1] = byte(v), byte(v>>8) }
func put32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
func put64(b []byte, v uint64) { put32(b, uint32(v)); put32(b[4:], uint32(v>>32)) }
func get16(b []byte) uint16    { return uint16(b[0]) | uint16(b[1])<<8 }
func get32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func get64(b []byte) uint64 { return uint64(get32(b)) | uint64(get32(b[4:]))<<32 }
