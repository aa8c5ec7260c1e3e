// Package virtioblk is a virtio-blk driver (OASIS virtio 1.2, §5.2) over
// any virtio transport: a block.Device for virtio-mmio and virtio-pci
// disks, modern or legacy.
//
// Requests are split by the device's seg_max and size_max and by the
// queue size, and many may be in flight at once, from many goroutines.
// Buffers the platform's DMA memory can reach (those from AllocBuffer, or
// any pinned buffer under TamaGo) go to the device as they are; others
// are bounced through DMA memory reserved per request slot at New. The
// driver trusts nothing the device writes: an impossible used ring entry
// or status value, a request unanswered past the timeout (SetTimeout) or
// DEVICE_NEEDS_RESET makes every call fail with an error wrapping
// block.ErrIO and virtio.ErrDeviceBroken (or virtio.ErrNeedsReset),
// after the device has been reset.
//
// A device that does not acknowledge that reset within the reset limit
// (SetResetLimit) may still read and write whatever it was given, so the
// driver quarantines it: the requests in flight fail, those that lent
// callers' buffers to the device with block.ErrBuffersHeld as well, and
// nothing the device could reach is reused or freed. The rings, request
// headers and bounce buffers stay with the driver for good, even after
// Disconnect; FreeBuffer of a held buffer does nothing, so AllocBuffer
// never hands it out again. That is a deliberate leak, bounded by one
// device's memory, which Stats reports.
//
// # Multi-queue
//
// A device that offers VIRTIO_BLK_F_MQ (§5.2.3) gets min(num_queues,
// runtime.GOMAXPROCS(0), 8) request queues, or fewer with MaxQueues; queue i is
// virtqueue i (§5.2.2). Each has its own locks, request slots, ring,
// request headers and bounce buffers, so that callers on different
// queues share nothing on the I/O path. Go cannot pin a goroutine to a
// processor, so the queue cannot follow the CPU as in Linux's blk-mq.
// Instead each call (a Read, Write, Flush, …) picks one queue when it
// starts and keeps it for all its requests: the first queue with no
// request in flight, looking from a round-robin position (one atomic add
// and a load per queue looked at), or the round-robin queue itself when
// every queue is busy. Two concurrent callers thus land on different
// queues whenever one is free, and a single caller at queue depth one
// pays one atomic add more than with one queue (nothing at all when
// there is one queue). A call whose queue has no idle request slot and
// no request of its own to wait for moves to another queue with one.
//
// Failures stay device-wide: a lie or a timeout on any queue breaks the
// device (a reset stops every queue), all queues' requests in flight
// fail, and a quarantine keeps every queue's memory.
package virtioblk

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/virtio"
)

// Device type of a block device (§5).
const DeviceID = 2

// Block device feature bits (§5.2.3).
const (
	FeatureSizeMax     virtio.Feature = 1  // VIRTIO_BLK_F_SIZE_MAX
	FeatureSegMax      virtio.Feature = 2  // VIRTIO_BLK_F_SEG_MAX
	FeatureGeometry    virtio.Feature = 4  // VIRTIO_BLK_F_GEOMETRY
	FeatureRO          virtio.Feature = 5  // VIRTIO_BLK_F_RO
	FeatureBlkSize     virtio.Feature = 6  // VIRTIO_BLK_F_BLK_SIZE
	FeatureFlush       virtio.Feature = 9  // VIRTIO_BLK_F_FLUSH
	FeatureTopology    virtio.Feature = 10 // VIRTIO_BLK_F_TOPOLOGY
	FeatureConfigWCE   virtio.Feature = 11 // VIRTIO_BLK_F_CONFIG_WCE
	FeatureMQ          virtio.Feature = 12 // VIRTIO_BLK_F_MQ
	FeatureDiscard     virtio.Feature = 13 // VIRTIO_BLK_F_DISCARD
	FeatureWriteZeroes virtio.Feature = 14 // VIRTIO_BLK_F_WRITE_ZEROES
)

var blkFeatureNames = map[virtio.Feature]string{
	0: "BARRIER", FeatureSizeMax: "SIZE_MAX", FeatureSegMax: "SEG_MAX",
	FeatureGeometry: "GEOMETRY", FeatureRO: "RO", FeatureBlkSize: "BLK_SIZE",
	7: "SCSI", FeatureFlush: "FLUSH", FeatureTopology: "TOPOLOGY",
	FeatureConfigWCE: "CONFIG_WCE", FeatureMQ: "MQ", FeatureDiscard: "DISCARD",
	FeatureWriteZeroes: "WRITE_ZEROES", 15: "LIFETIME", 16: "SECURE_ERASE",
	17: "ZONED",
}

// FeatureName returns the spec name of a block feature bit without its
// VIRTIO_BLK_F_ prefix, or "".
func FeatureName(f virtio.Feature) string { return blkFeatureNames[f] }

// supported is what this driver negotiates when the device offers it.
var supported = virtio.FeatureSet(
	FeatureSizeMax, FeatureSegMax, FeatureRO, FeatureBlkSize, FeatureFlush,
	FeatureTopology, FeatureMQ, FeatureDiscard, FeatureWriteZeroes,
	virtio.IndirectDesc, virtio.EventIdx, virtio.Version1, virtio.RingPacked,
)

// Option changes what New sets up.
type Option func(*options)

type options struct {
	splitRing bool
	maxQueues int
}

// SplitRing keeps the driver on a split virtqueue (§2.7) when the device
// also offers packed ones (VIRTIO_F_RING_PACKED, §2.8), which New
// otherwise takes: for comparing the two, or for a device whose packed
// ring misbehaves.
func SplitRing() Option { return func(o *options) { o.splitRing = true } }

// MaxQueues lowers the number of request queues New sets up on a
// VIRTIO_BLK_F_MQ device (at most maxQueues, and no more than the device's
// num_queues or runtime.GOMAXPROCS(0)); n = 1 drives queue 0 only, as with a
// device without MQ.
func MaxQueues(n int) Option { return func(o *options) { o.maxQueues = max(n, 1) } }

// numCPU is the number of processors that can submit requests at once:
// GOMAXPROCS, not runtime.NumCPU, which under GOOS=tamago is fixed at 1
// before a board starts its secondary CPUs (board/microvm sets GOMAXPROCS
// to the CPUs it started), and which a program that limits GOMAXPROCS
// would overcount. Tests replace it when they need more queues than the
// machine has processors.
var numCPU = func() int { return runtime.GOMAXPROCS(0) }

// struct virtio_blk_config (§5.2.4): offsets of the fields read.
const (
	cfgCapacity              = 0x00
	cfgSizeMax               = 0x08
	cfgSegMax                = 0x0c
	cfgBlkSize               = 0x14
	cfgPhysicalBlockExp      = 0x18
	cfgAlignmentOffset       = 0x19
	cfgMinIOSize             = 0x1a
	cfgOptIOSize             = 0x1c
	cfgNumQueues             = 0x22
	cfgMaxDiscardSectors     = 0x24
	cfgMaxDiscardSeg         = 0x28
	cfgDiscardAlignment      = 0x2c
	cfgMaxWriteZeroesSectors = 0x30
	cfgMaxWriteZeroesSeg     = 0x34
)

// Limits of this driver.
const (
	// maxQueueSize bounds the queue this driver asks for: per-slot
	// memory grows with it, and 256 keeps a disk busy.
	maxQueueSize = 256
	// maxSegments bounds the data segments of one request.
	maxSegments = 128
	// maxSegmentBytes bounds one segment when the device sets no
	// size_max (a descriptor's len is 32 bits).
	maxSegmentBytes = 4 << 20
	// maxQueues bounds the request queues (VIRTIO_BLK_F_MQ): each costs
	// its ring and request headers.
	maxQueues = 8
	// bounceBudget is the DMA memory for bounce buffers, shared out
	// among the request slots, which the queues share out (allocSlots);
	// each slot gets at least one sector and at most maxBounce. A
	// device's DMA memory is thus at most, whatever the number of
	// queues: 2 MiB of bounce buffers (or one sector for each of at
	// most 256 slots, 1 MiB with 4 KiB sectors), the request headers of
	// 256 slots (at most 2176 bytes each: 544 KiB), and one ring per queue
	// (about 10 KiB for 256 descriptors): under 2.7 MiB with 8 queues.
	bounceBudget = 2 << 20
	maxBounce    = 256 << 10
	// defaultMaxZeroSectors is used for discard and write-zeroes when
	// the device leaves its maximum at 0 (QEMU's BDRV_REQUEST_MAX_SECTORS).
	defaultMaxZeroSectors = 0x3fffff
	// defaultTimeout is how long a polling request waits for the device
	// before the driver declares it broken.
	defaultTimeout = 30 * time.Second
)

// Stats reports what a device's failures cost.
type Stats struct {
	// Quarantined is set once the device failed to acknowledge a reset
	// (see the package comment).
	Quarantined bool
	// HeldBytes is the driver's own DMA memory kept for good by the
	// quarantine: rings, request headers, bounce buffers.
	HeldBytes int64
	// HeldCallerBytes is the bytes of callers' buffers lent to the
	// quarantined device (their requests failed with
	// block.ErrBuffersHeld).
	HeldCallerBytes int64
	// RefusedFrees counts FreeBuffer calls ignored because the device
	// may still use the buffer.
	RefusedFrees int64
	// Rechecked counts completions the driver found by looking at the
	// used ring itself, after no interrupt came in time or when a wait
	// reached its timeout: each one is a lost (or late) interrupt.
	Rechecked uint64
	// Queues has one entry per request queue, in virtqueue order.
	Queues []QueueStats
}

// QueueStats reports one request queue's traffic.
type QueueStats struct {
	Submitted uint64 // requests made available to the device
	Reaped    uint64 // completions taken off the used ring
	Rechecked uint64 // of those, found by a re-check (see Stats)
	InFlight  int    // requests the device has now
}

// Topology is the optional VIRTIO_BLK_F_TOPOLOGY information, in logical
// blocks (§5.2.4).
type Topology struct {
	PhysicalBlockExp uint8  // log2 of logical blocks per physical block
	AlignmentOffset  uint8  // offset of the first aligned logical block
	MinIOSize        uint16 // suggested minimum I/O size in blocks
	OptIOSize        uint32 // optimal (suggested maximum) I/O size in blocks
}

// Device is a virtio-blk disk. It implements block.Device,
// block.Flusher, block.Discarder, block.WriteZeroer,
// block.BufferAllocator and block.BufferFreer, and is safe for
// concurrent use.
type Device struct {
	t        virtio.Transport
	dma      virtio.DMA
	features virtio.Features
	info     block.Info
	topology Topology
	perSect  int64 // 512-byte protocol sectors per device sector

	segs            int          // data segments per request
	segBytes        int          // bytes per segment, a multiple of the sector size
	maxDiscard      uint32       // device sectors per discard request
	maxWriteZeroes  uint32       // device sectors per write-zeroes request
	numQueues       int          // num_queues, 1 without VIRTIO_BLK_F_MQ
	timeout         atomic.Int64 // SetTimeout's, ns
	interruptDriven atomic.Bool
	hybrid          atomic.Int64 // SetHybridPoll's window, ns

	qs   []queue       // the request queues; qs[i] is virtqueue i
	next atomic.Uint32 // pick's round-robin position

	// Device-wide state. Lock order: a queue's pollMu, then mu, then
	// the queues' mu in index order. closed and err are also copied
	// into every queue (under its mu) and into the flags below, so that
	// the I/O path takes only its queue's lock.
	mu         sync.Mutex
	err        error // sticky: the device is broken
	closed     bool
	resetLimit time.Duration
	closedFlag atomic.Bool // closed
	brokenFlag atomic.Bool // err != nil
	// The quarantine (see the package comment).
	quarantined     bool
	heldRanges      []virtio.Buffer // callers' buffers lent to the device
	heldBytes       int64
	heldCallerBytes int64
	refusedFrees    int64
}

// New initialises the virtio-blk device behind t (§3.1.1): negotiation,
// configuration, the request queues, DRIVER_OK. Its rings, request
// headers and bounce buffers come from dma. Any error leaves the device
// with FAILED set.
func New(t virtio.Transport, dma virtio.DMA, opts ...Option) (*Device, error) {
	if id := t.DeviceID(); id != DeviceID {
		return nil, fmt.Errorf("virtioblk: device type %d is not a block device", id)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	want := supported
	if o.splitRing {
		want &^= virtio.FeatureSet(virtio.RingPacked)
	}
	features, err := virtio.Init(t, want)
	if err != nil {
		return nil, fmt.Errorf("virtioblk: %w", err)
	}
	d := &Device{t: t, dma: dma, features: features, resetLimit: virtio.DefaultResetLimit}
	d.timeout.Store(int64(defaultTimeout))
	if err := d.readConfig(); err != nil {
		virtio.Fail(t)
		return nil, err
	}
	limit := maxQueues
	if o.maxQueues > 0 {
		limit = min(limit, o.maxQueues)
	}
	d.qs = make([]queue, max(min(d.numQueues, numCPU(), limit), 1))
	for i := range d.qs {
		q := &d.qs[i]
		q.d, q.index = d, i
		vq, err := virtio.NewQueue(t, dma, uint16(i), maxQueueSize, features)
		if err != nil {
			d.fail()
			return nil, fmt.Errorf("virtioblk: %w", err)
		}
		q.vq = vq
		d.segs = min(d.segs, int(vq.Size())-2, maxSegments)
		if d.segs < 1 {
			d.fail()
			return nil, fmt.Errorf("virtioblk: queue of %d descriptors cannot carry a request", vq.Size())
		}
	}
	for i := range d.qs {
		if err := d.qs[i].allocSlots(len(d.qs)); err != nil {
			d.fail()
			return nil, err
		}
	}
	if err := virtio.Ready(t); err != nil {
		d.fail()
		return nil, fmt.Errorf("virtioblk: %w", err)
	}
	return d, nil
}

// fail undoes a partial New.
func (d *Device) fail() {
	_ = virtio.Reset(d.t)
	virtio.Fail(d.t)
	for i := range d.qs {
		d.qs[i].freeMemory()
	}
}

// readConfig reads struct virtio_blk_config, each field only when its
// feature was negotiated (§5.2.5), as one consistent snapshot.
func (d *Device) readConfig() error {
	f := d.features
	var capacity uint64
	var sizeMax, segMax, blkSize, maxDiscard, maxWZ uint32
	numQueues := uint16(1)
	var topo Topology
	err := virtio.ReadConfig(d.t, func(r virtio.Regs) {
		capacity = virtio.ReadConfig64(d.t, r, cfgCapacity)
		if f.Has(FeatureSizeMax) {
			sizeMax = r.Read32(cfgSizeMax)
		}
		if f.Has(FeatureSegMax) {
			segMax = r.Read32(cfgSegMax)
		}
		if f.Has(FeatureBlkSize) {
			blkSize = r.Read32(cfgBlkSize)
		}
		if f.Has(FeatureTopology) {
			topo = Topology{
				PhysicalBlockExp: r.Read8(cfgPhysicalBlockExp),
				AlignmentOffset:  r.Read8(cfgAlignmentOffset),
				MinIOSize:        r.Read16(cfgMinIOSize),
				OptIOSize:        r.Read32(cfgOptIOSize),
			}
		}
		if f.Has(FeatureMQ) {
			numQueues = r.Read16(cfgNumQueues)
		}
		if f.Has(FeatureDiscard) {
			maxDiscard = r.Read32(cfgMaxDiscardSectors)
		}
		if f.Has(FeatureWriteZeroes) {
			maxWZ = r.Read32(cfgMaxWriteZeroesSectors)
		}
	})
	if err != nil {
		return fmt.Errorf("virtioblk: %w", err)
	}
	d.topology = topo
	// num_queues 0 is no queue at all; like Linux, take it as one.
	d.numQueues = max(int(numQueues), 1)

	// blk_size sets the sector size the driver uses (§5.2.5); the
	// protocol keeps 512-byte units. Like Linux, a value that is not a
	// power of two between 512 and 64 KiB is ignored.
	ss := 512
	if blkSize >= 512 && blkSize <= 64<<10 && blkSize&(blkSize-1) == 0 {
		ss = int(blkSize)
	}
	d.perSect = int64(ss / 512)
	sectors := capacity / uint64(d.perSect)
	if lim := uint64(math.MaxInt64 / int64(ss)); sectors > lim {
		sectors = lim
	}
	d.info = block.Info{ReadWrite: !f.Has(FeatureRO), SectorSize: ss, Sectors: int64(sectors)}

	// seg_max 0 means one segment, as in Linux.
	d.segs = maxSegments
	if f.Has(FeatureSegMax) {
		d.segs = max(int(segMax), 1)
	}
	d.segBytes = maxSegmentBytes
	if f.Has(FeatureSizeMax) && sizeMax < maxSegmentBytes {
		d.segBytes = int(sizeMax)
	}
	// Segments are whole sectors: a size_max below the sector size
	// cannot be honoured, and one sector is the least the driver sends.
	d.segBytes = max(d.segBytes/ss*ss, ss)

	d.maxDiscard = zeroLimit(maxDiscard, d.perSect)
	d.maxWriteZeroes = zeroLimit(maxWZ, d.perSect)
	return nil
}

// zeroLimit converts a max_discard_sectors-style limit in 512-byte units
// to whole device sectors.
func zeroLimit(v uint32, perSect int64) uint32 {
	if v == 0 {
		v = defaultMaxZeroSectors
	}
	return uint32(max(int64(v)/perSect, 1))
}

// Info returns the disk's geometry: SectorSize is blk_size when the
// device gives one, else 512.
func (d *Device) Info() block.Info { return d.info }

// Transport returns the transport the device was found on.
func (d *Device) Transport() virtio.Transport { return d.t }

// Features returns the negotiated feature bits.
func (d *Device) Features() virtio.Features { return d.features }

// FeatureNames returns the negotiated features' spec names (without
// prefixes) in bit order, for example SEG_MAX BLK_SIZE FLUSH … VERSION_1.
func (d *Device) FeatureNames() []string { return d.features.Names(FeatureName) }

// Topology returns the VIRTIO_BLK_F_TOPOLOGY information, zero without it.
func (d *Device) Topology() Topology { return d.topology }

// QueueSize returns the number of descriptors in request queue 0.
func (d *Device) QueueSize() int { return int(d.qs[0].vq.Size()) }

// NumQueues returns the number of request queues in use: 1 without
// VIRTIO_BLK_F_MQ (see the package comment).
func (d *Device) NumQueues() int { return len(d.qs) }

// SetTimeout sets how long a request may wait for the device, polling
// or with interrupts, before the driver declares the device broken
// (default 30 s; 0: no limit).
func (d *Device) SetTimeout(t time.Duration) { d.timeout.Store(int64(t)) }

// SetResetLimit sets how long the driver waits for the device to
// acknowledge the reset that follows a failure, or Disconnect, before it
// quarantines the device (default virtio.DefaultResetLimit).
func (d *Device) SetResetLimit(t time.Duration) {
	d.mu.Lock()
	d.resetLimit = t
	d.mu.Unlock()
}

// Stats returns the device's quarantine and re-check counts and each
// queue's traffic.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	st := Stats{
		Quarantined:     d.quarantined,
		HeldBytes:       d.heldBytes,
		HeldCallerBytes: d.heldCallerBytes,
		RefusedFrees:    d.refusedFrees,
		Queues:          make([]QueueStats, len(d.qs)),
	}
	d.mu.Unlock()
	for i := range d.qs {
		q := &d.qs[i]
		q.mu.Lock()
		st.Queues[i] = QueueStats{Submitted: q.submitted, Reaped: q.reaped, InFlight: q.inFlight}
		q.mu.Unlock()
		st.Queues[i].Rechecked = q.rechecked.Load()
		st.Rechecked += st.Queues[i].Rechecked
	}
	return st
}

// String describes the disk in one line, for the shell.
func (d *Device) String() string {
	version := "modern"
	if d.t.Legacy() {
		version = "legacy"
	}
	rw := "rw"
	if !d.info.ReadWrite {
		rw = "ro"
	}
	return fmt.Sprintf("virtio-blk %s %s: %d sectors of %d bytes, %s, %s queue %d, queues %d, %d segments of %d bytes, features=%s",
		d.t.Name(), version, d.info.Sectors, d.info.SectorSize, rw, d.Ring(), d.qs[0].vq.Size(), len(d.qs), d.segs, d.segBytes,
		strings.Join(d.FeatureNames(), ","))
}

// Ring names the virtqueue format in use: "packed" (VIRTIO_F_RING_PACKED
// negotiated) or "split".
func (d *Device) Ring() string {
	if d.qs[0].vq.Packed() {
		return "packed"
	}
	return "split"
}
