// Package swapfs is tamaswap's swap manager: append-only anonymous files on
// a block.Device, after robur's OCaml swapfs for MirageOS.
//
// FS.Empty gives a Handle to a fresh, empty file; Handle.Append adds bytes
// at its end; Handle.ReadAt reads at any offset; Handle.Free gives its
// blocks back and leaves the handle empty and reusable. A handle that
// becomes unreachable has its blocks released after the garbage
// collector finds it (runtime.AddCleanup): the cleanup only queues the
// handle, and a goroutine of the FS waits for its transfers and frees
// its blocks and buffers, so a slow device delays no other cleanup in
// the program. FS.Close gives the FS's buffers back to the device.
//
// # Layout
//
// The device is cut into blocks of the blocking factor's sectors (2048 by
// default: 1 MiB with 512-byte sectors); sectors past the last whole block
// are not used. A handle owns a list of extents: runs of physically
// contiguous blocks, in file order. Allocation first tries the block right
// after a handle's last one, so a growing file stays in few extents, and
// otherwise takes the next free block after a search hint (next fit in a
// bitmap of one bit per block: O(1) amortised). Bookkeeping is the bitmap
// plus 16 bytes per extent of every live handle (Stats.BookkeepingBytes).
//
// # Requests
//
// The device is written in whole units (a sector; with encryption, a 4 KiB
// unit). A handle keeps its partial last unit in memory, so appending
// never reads the device, and a unit reaches the device once, when it is
// complete. I/O buffers come from the device's AllocBuffer
// (block.BufferAllocator) when it has one (DMA memory: the virtio
// driver's zero-copy path), are reused, and are at most four per FS; in
// steady state Append and ReadAt allocate nothing.
//
// A device request costs a fixed time besides its bytes, so a file
// streamed in small pieces moves in granules: I/O buffers' worth (1 MiB)
// of file data, one request each. A handle whose file grows past a
// granule borrows a stream buffer (WithStreamBuffers) and gathers its
// appends there; each granule they complete is written from it in the
// background (write-behind) while the next fills a second buffer, and
// its bytes read back from memory until then. A handle read sequentially
// in pieces under half a granule is read a granule at a time into two
// stream buffers, the next one fetched while the caller consumes the
// current (read-ahead). An encrypted handle seals each granule it writes
// behind, and opens each it reads ahead, on its background worker, so
// that the cipher runs beside the caller (see stream.go). Other Appends and ReadAts make one request per
// contiguous run of units they touch, split only at I/O buffer
// boundaries: at most one per block touched with the default blocking
// factor, and none for bytes still in memory. Without stream buffers
// (WithStreamBuffers(0), or all lent out), every Append and
// ReadAt works that way: 16 requests per MiB for 64 KiB pieces, against
// 1 with them.
//
// # Encryption
//
// WithEncryption gives swap that the host holding the disk can neither
// read nor alter unnoticed (a confidential VM's threat model). Each New
// draws a fresh 256-bit key from crypto/rand (under TamaGo, the board's
// RNG); it lives only in the AEAD's memory and is never written
// anywhere, so the swap dies with the FS, as swap should.
//
// The unit of encryption is 4 KiB of the device (8 sectors of 512 bytes;
// one sector if sectors are larger): 4080 bytes of data sealed with
// ChaCha20-Poly1305 (RFC 8439), followed by its 16-byte tag. The 96-bit
// nonce is the unit's physical number (64 bits) and the unit's write
// counter (32 bits). The counters are kept in RAM, one per unit of the
// disk, and a unit's counter goes up before every write of it, even one
// that then fails: no nonce ever repeats under a key (a unit written
// 2^32-1 times makes further appends to it fail). Opening a unit with the
// nonce of its current place and count rejects a changed bit, a sector
// moved or swapped (its place is in the nonce) and an older write of the
// same place replayed (its count is). Because units are written whole,
// once, when complete (the partial last one stays in memory), encryption
// needs no device read and no read-modify-write. Units are sealed
// straight from the caller's bytes into the I/O buffer, and a unit that a
// read wants whole is opened straight into the caller's buffer, so
// encryption costs no extra copy. A read touching a unit that fails to
// open returns ErrCorrupt and none of that unit's bytes (the tag is
// checked before any plaintext is released; as io.ReaderAt allows, p past
// the bytes reported read may hold zeros); the handle stays usable, and
// other ranges read normally. The blocking factor is rounded up to whole
// units. What stays visible to the host: which blocks are in use, when,
// and how much is written.
//
// ChaCha20-Poly1305 rather than AES-GCM because it is constant-time in
// plain Go on every CPU, while Go's AES without AES-NI is table-based and
// leaks through the cache to a host that shares it. The repository's
// results/encryption.md gives the measurements behind the choice.
//
// # Cost
//
// Plain: RAM of one bit per block (1/8 byte per MiB of swap with the
// default factor) plus 16 bytes per extent; no disk overhead. Encrypted:
// 4 bytes of counter per 4 KiB unit, 1 KiB of RAM per MiB of swap (1 MiB
// per GiB), and 16 bytes of tag per unit, 4 KiB of disk per MiB (0.39%: a
// 1 MiB block holds 1,044,480 bytes). Fixed costs either way: up to
// four I/O buffers of 1 MiB per FS, allocated on first use, each
// handle's partial last unit (under a sector; 4 KiB encrypted), and up
// to DefaultStreamBuffers stream buffers of 1 MiB
// (DefaultEncryptedStreamBuffers encrypted), made as streaming handles
// first need them and kept for reuse.
//
// Time: encryption is CPU work on every byte, so its share of a
// request's time depends on how fast the device is against the CPU;
// results/encryption.md has the figures measured under QEMU.
//
// # Errors
//
// Running out of space is ErrOutOfSpace and leaves the handle exactly as
// it was, with no block leaked. A device error comes back wrapped (it
// matches block.ErrIO, block.ErrDisconnected, … with errors.Is) and leaves
// the handle as it was before the call; a write-behind's failure comes
// back from a later call, its bytes kept (Handle.Append, Handle.Sync).
// A negative offset is an error
// matching fs.ErrInvalid; reading at or past the end is io.EOF, as
// io.ReaderAt says. After FS.Close every call on the FS's handles fails
// with ErrClosed. Handles are safe for concurrent use; ReadAt calls on
// one handle run in parallel.
//
// A device error matching block.ErrBuffersHeld says that the device may
// still use the request's buffer: that buffer leaves the FS's pools for
// good (it is neither reused nor given back), and a handle whose bytes
// were in it has lost them: its calls fail with that error until it is
// freed.
package swapfs

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// DefaultBlockingFactor is the number of sectors per block when
// WithBlockingFactor is not given: 1 MiB with 512-byte sectors.
const DefaultBlockingFactor = 2048

const (
	// maxIOBytes bounds one I/O buffer, and so one device request.
	maxIOBytes = 1 << 20
	// maxIOBufs bounds the I/O buffers of one FS: concurrent operations
	// beyond it wait for a buffer.
	maxIOBufs = 4
	// maxSectorSize bounds the sector sizes accepted from a device.
	maxSectorSize = 1 << 20
	// maxBlocks bounds the allocation bitmap to 64 MiB; block numbers
	// then fit an int on every architecture.
	maxBlocks = 1 << 29
	// extentBytes is the size of one extent record.
	extentBytes = 16
)

// ErrOutOfSpace is the error of an Append that needs more blocks than are
// free.
var ErrOutOfSpace = errors.New("swapfs: out of space")

// ErrClosed is the error of every call on a handle after FS.Close.
var ErrClosed = errors.New("swapfs: closed")

var (
	errNilDevice      = errors.New("swapfs: nil device")
	errGeometry       = errors.New("swapfs: unusable device geometry")
	errBlockingFactor = errors.New("swapfs: blocking factor must be positive")
	errTooManyBlocks  = errors.New("swapfs: too many blocks for the allocation bitmap; raise the blocking factor")
	errNilHandle      = errors.New("swapfs: nil handle")
	errStreamBufs     = errors.New("swapfs: stream buffer count must not be negative")
	errNilFS          = errors.New("swapfs: nil FS")
)

// An Option configures New.
type Option func(*config)

type config struct {
	blockingFactor int
	encrypt        bool
	streamBufs     int
	streamBufsSet  bool // by WithStreamBuffers
	weakEntropy    bool // by WithWeakEntropy
}

// WithBlockingFactor sets the number of sectors per block, the unit of
// allocation. New fails on a factor that is not positive.
func WithBlockingFactor(sectors int) Option {
	return func(c *config) { c.blockingFactor = sectors }
}

// Stats describes an FS's space and bookkeeping.
type Stats struct {
	BlockSize        int64 // bytes of the device per block
	TotalBlocks      int64 // blocks on the device
	FreeBlocks       int64 // blocks owned by no handle
	BookkeepingBytes int64 // allocation bitmap, every live handle's extent list, encryption's write counters
}

// FS is a swap manager over one device. It is safe for concurrent use.
type FS struct {
	dev   block.Device
	alloc block.BufferAllocator // nil: I/O buffers from make
	seal  *sealer               // nil: plain

	sectorSize     int64
	blockingFactor int64 // sectors per block
	unitSectors    int64 // sectors per unit: the granularity of device writes
	unitSize       int64 // bytes of the device per unit
	unitPayload    int64 // bytes of file data per unit
	unitsPerBlock  int64
	blockPayload   int64 // bytes of file data per block
	ioUnits        int64 // units per I/O buffer
	granule        int64 // bytes of file data per I/O buffer: the unit of write-behind and read-ahead
	capacity       int64 // bytes of file data the device holds, saturated at MaxInt64

	mu      sync.Mutex // guards the allocator, nbufs, nstage, held and handles
	bitmap  []uint64   // bit set: block in use (bits past total stay set)
	hint    int64      // where the next search for a free block starts
	total   int64
	free    int64
	nbufs   int // I/O buffers in existence
	nstage  int // stream buffers in existence
	held    int // buffers given up to a device that may still use them
	handles map[*hstate]struct{}
	closed  atomic.Bool

	lostMu    sync.Mutex // guards lost and releasing
	lost      []*hstate  // handles the garbage collector found, to release
	releasing bool       // a goroutine is working through lost

	extents atomic.Int64 // extents of all live handles
	bufs    chan *ioBuf  // idle I/O buffers
	stage   chan *ioBuf  // idle stream buffers; its capacity is the FS's limit
}

// ioBuf is a reusable I/O buffer with the scratch space an operation needs.
type ioBuf struct {
	b   []byte
	dma bool // from the device's AllocBuffer
	// vec passes a buffer to Read and Write: a variadic argument to an
	// interface method escapes, so a fresh one would allocate per call.
	vec   [1][]byte
	nonce [12]byte // AEAD nonce scratch, kept here so it does not escape per call
}

// one returns b as the argument list of a Read or Write.
func (buf *ioBuf) one(b []byte) [][]byte {
	buf.vec[0] = b
	return buf.vec[:]
}

// New returns a swap manager over dev, which must be writable. Every block
// starts free: nothing on the device is read.
func New(dev block.Device, opts ...Option) (*FS, error) {
	if dev == nil {
		return nil, errNilDevice
	}
	c := config{blockingFactor: DefaultBlockingFactor, streamBufs: DefaultStreamBuffers}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	info := dev.Info()
	ss := int64(info.SectorSize)
	if ss <= 0 || ss > maxSectorSize || info.Sectors < 0 {
		return nil, fmt.Errorf("%w: sector size %d, %d sectors", errGeometry, info.SectorSize, info.Sectors)
	}
	if !info.ReadWrite {
		return nil, fmt.Errorf("swapfs: new: %w", block.ErrReadOnly)
	}
	if c.encrypt {
		if err := checkEntropy(&c); err != nil {
			return nil, err
		}
	}
	if c.blockingFactor <= 0 {
		return nil, fmt.Errorf("%w: %d", errBlockingFactor, c.blockingFactor)
	}
	if c.streamBufs < 0 {
		return nil, fmt.Errorf("%w: %d", errStreamBufs, c.streamBufs)
	}
	bf := int64(c.blockingFactor)
	// A block's bytes are counted, sliced and allocated as ints: on
	// 32-bit machines that, not int64, is the limit.
	if bf > math.MaxInt/ss {
		return nil, fmt.Errorf("%w: blocking factor %d × sector size %d exceeds %d bytes, the largest int", errGeometry, bf, ss, int64(math.MaxInt))
	}
	fs := &FS{
		dev:            dev,
		sectorSize:     ss,
		blockingFactor: bf,
		unitSectors:    1,
		unitSize:       ss,
		unitPayload:    ss,
		bufs:           make(chan *ioBuf, maxIOBufs),
		handles:        make(map[*hstate]struct{}),
	}
	if c.encrypt {
		// Units of 4 KiB (or one sector if larger), each ending in its
		// tag; blocks of whole units.
		fs.unitSectors = ceilDiv(chunkBytes, ss)
		fs.unitSize = fs.unitSectors * ss
		fs.unitPayload = fs.unitSize - tagBytes
		if bf > math.MaxInt/ss-fs.unitSectors {
			return nil, fmt.Errorf("%w: blocking factor %d rounded up to whole %d-sector units × sector size %d exceeds %d bytes, the largest int", errGeometry, bf, fs.unitSectors, ss, int64(math.MaxInt))
		}
		fs.blockingFactor = ceilDiv(bf, fs.unitSectors) * fs.unitSectors
	}
	fs.alloc, _ = dev.(block.BufferAllocator)
	fs.unitsPerBlock = fs.blockingFactor / fs.unitSectors
	fs.blockPayload = fs.unitsPerBlock * fs.unitPayload

	fs.total = info.Sectors / fs.blockingFactor
	if fs.total > maxBlocks {
		return nil, fmt.Errorf("%w: %d blocks, at most %d", errTooManyBlocks, fs.total, maxBlocks)
	}
	fs.free = fs.total
	if fs.total > math.MaxInt64/fs.blockPayload {
		fs.capacity = math.MaxInt64
	} else {
		fs.capacity = fs.total * fs.blockPayload
	}
	fs.bitmap = make([]uint64, (fs.total+63)/64)
	if r := fs.total % 64; r != 0 {
		fs.bitmap[len(fs.bitmap)-1] = ^uint64(0) << r // never allocated
	}

	// I/O buffers of 1 MiB, or the whole disk if smaller: a run of
	// contiguous blocks moves in one request per MiB, never more
	// requests than the blocks it touches (with blocks of up to 1 MiB).
	io := int64(maxIOBytes)
	if blockSize := fs.blockingFactor * fs.sectorSize; fs.total < ceilDiv(maxIOBytes, blockSize) {
		io = fs.total * blockSize
	}
	fs.ioUnits = max(1, io/fs.unitSize)
	fs.granule = fs.ioUnits * fs.unitPayload

	if c.encrypt {
		var err error
		if fs.seal, err = newSealer(fs.total * fs.unitsPerBlock); err != nil {
			return nil, err
		}
	}
	if c.encrypt && !c.streamBufsSet {
		c.streamBufs = DefaultEncryptedStreamBuffers
	}
	fs.stage = make(chan *ioBuf, c.streamBufs)
	return fs, nil
}

// Stats returns the FS's block counts and bookkeeping size.
func (fs *FS) Stats() Stats {
	if fs == nil {
		return Stats{}
	}
	fs.mu.Lock()
	free := fs.free
	fs.mu.Unlock()
	return Stats{
		BlockSize:        fs.blockingFactor * fs.sectorSize,
		TotalBlocks:      fs.total,
		FreeBlocks:       free,
		BookkeepingBytes: fs.bookkeeping(),
	}
}

// bookkeeping returns the bytes of RAM the FS uses to track blocks: the
// bitmap, the live extents and, with encryption, the write counters.
func (fs *FS) bookkeeping() int64 {
	n := int64(len(fs.bitmap))*8 + fs.extents.Load()*extentBytes
	if fs.seal != nil {
		n += int64(len(fs.seal.ctr)) * 4
	}
	return n
}

// getBuf returns an idle I/O buffer, making one while fewer than maxIOBufs
// exist, and otherwise waiting for one.
func (fs *FS) getBuf() *ioBuf { return fs.take(fs.bufs, &fs.nbufs, true) }

// take returns an idle buffer from pool, or makes one while fewer than
// cap(pool) exist (counted in *made, under fs.mu); with all of them made
// and busy, it waits for one if wait, and otherwise returns nil.
func (fs *FS) take(pool chan *ioBuf, made *int, wait bool) *ioBuf {
	select {
	case b := <-pool:
		return b
	default:
	}
	fs.mu.Lock()
	if *made >= cap(pool) {
		fs.mu.Unlock()
		if !wait {
			return nil
		}
		return <-pool
	}
	*made++
	fs.mu.Unlock()
	return fs.makeBuf()
}

// makeBuf makes an I/O buffer.
func (fs *FS) makeBuf() *ioBuf {
	n := int(fs.ioUnits * fs.unitSize)
	if fs.alloc != nil {
		// The device's own memory is its fast path; any other memory
		// works too, so a failing or short allocation falls back to it.
		if b, err := fs.alloc.AllocBuffer(n); err == nil && len(b) >= n {
			return &ioBuf{b: b[:n], dma: true}
		}
	}
	return &ioBuf{b: make([]byte, n)}
}

func (fs *FS) putBuf(b *ioBuf) { fs.bufs <- b } // never blocks: at most maxIOBufs exist

// recycle puts b back in pool after a transfer that ended with err,
// unless err says the device may still use b: then b leaves the pool for
// good (another may be made in its place) and is never freed.
func (fs *FS) recycle(pool chan *ioBuf, made *int, b *ioBuf, err error) {
	if err != nil && errors.Is(err, block.ErrBuffersHeld) {
		fs.mu.Lock()
		*made--
		fs.held++
		fs.mu.Unlock()
		return
	}
	pool <- b
}

// HeldBuffers returns the number of I/O and stream buffers the FS gave
// up because their request failed with block.ErrBuffersHeld.
func (fs *FS) HeldBuffers() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.held
}

// Close waits for every transfer under way, gives each I/O and stream
// buffer back to the device (block.BufferFreer; buffers the device may
// still hold excepted) and makes every later call on the FS's handles
// fail with ErrClosed. The blocks in use stay as they are. Idempotent.
func (fs *FS) Close() error {
	if fs == nil {
		return errNilFS
	}
	fs.mu.Lock()
	if fs.closed.Load() {
		fs.mu.Unlock()
		return nil
	}
	fs.closed.Store(true)
	live := make([]*hstate, 0, len(fs.handles))
	for st := range fs.handles {
		live = append(live, st)
	}
	fs.mu.Unlock()
	// A call that began before Close holds its handle's lock until it
	// is done; later ones see closed and touch nothing.
	for _, st := range live {
		st.mu.Lock()
		st.drop()
		st.mu.Unlock()
	}
	fs.mu.Lock()
	nbufs, nstage := fs.nbufs, fs.nstage
	fs.mu.Unlock()
	freer, _ := fs.dev.(block.BufferFreer)
	for _, n := range [2]struct {
		pool chan *ioBuf
		n    int
	}{{fs.bufs, nbufs}, {fs.stage, nstage}} {
		for range n.n {
			b := <-n.pool
			if b.dma && freer != nil {
				freer.FreeBuffer(b.b)
			}
		}
	}
	return nil
}

// ceilDiv returns a/b rounded up, for a >= 0 and b > 0, without overflow.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}
