//go:build tamago && arm

package imx6

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/tamaswap/tamaswap/board/heapdma"
	"github.com/tamaswap/tamaswap/drivers/usdhc"
)

// DMA is the memory the uSDHC reaches, a usdhc.DMA: the Go heap, which TamaGo maps
// identity (a Go pointer is the physical address) and cacheable, so data
// buffers go to the controller's ADMA2 descriptors without a copy, and
// Share and Unshare do the cache maintenance the i.MX6's non-coherent bus
// masters need.
//
// Why cacheable buffers with maintenance, and not TamaGo's dma region: the
// dma package's memory lies outside the Go runtime's RAM, which TamaGo's
// MMU maps Strongly-ordered, uncached (arm.DeviceRegion). That is correct
// without maintenance, but every byte the swap manager copies or ciphers
// in such a buffer is then an uncached access: on a Cortex-A7 an uncached
// read stalls for the whole DDR round trip, and Strongly-ordered accesses
// are not even merged, where a cached copy streams whole 64-byte lines.
// The maintenance costs one CP15 operation per 64-byte line, a DSB, and
// nothing for the bytes themselves; the transfer it wraps runs at the
// card's 10–25 MB/s. The default region (128 KiB of OCRAM) also would not
// hold one 1 MiB swap block. QEMU models no caches, so neither cost shows
// there: the maintenance instructions are executed (and the code path is
// the one real silicon takes), but only hardware can show that the
// sequences below are right.
//
// The rules, as for any non-coherent DMA (and rcore's Hal::share):
//
//   - Share before the device is started: ToDevice cleans the lines, so the
//     device reads what the CPU wrote; FromDevice cleans and invalidates
//     them, so no dirty line can be evicted over the device's data.
//   - Unshare after the device is done and before the CPU looks:
//     FromDevice invalidates again, because the CPU may have fetched lines
//     speculatively during the transfer.
//   - Between the two the CPU touches neither the buffer nor anything
//     sharing a cache line with it. For FromDevice that needs the buffer to
//     start and end on a cache-line boundary (Aligned); a driver bounces
//     any other buffer through memory from Alloc, which always is. (So
//     no line of a FromDevice buffer is dirty when Unshare invalidates
//     it, and a core that carries out DCIMVAC as clean-and-invalidate
//     does no harm.)
type DMA struct {
	heap *heapdma.HeapDMA // the Go runtime's RAM
	line uintptr          // data cache line, bytes
}

// DMAPoolSize is the DMA pool carved from the heap at init, for the
// uSDHCs' ADMA2 tables and bounce buffers (64 KiB each) and the buffers
// of AllocBuffer (the swap manager's stream and I/O buffers, 4 to 6 MiB
// a manager; see board/microvm's DMAPoolSize).
const DMAPoolSize = 24 << 20

var heapDMA *DMA

func init() {
	// Before the heap grows: the memory limit, then the DMA pool.
	heap, err := heapdma.Boot(DMAPoolSize)
	if err != nil {
		panic("imx6: " + err.Error())
	}
	heapDMA = &DMA{heap: heap, line: uintptr(dcacheLine())}
}

// HeapDMA returns the Go heap as DMA memory.
func HeapDMA() *DMA { return heapDMA }

// FreeBytes is the DMA pool's free memory, for the shell's mem command.
func (d *DMA) FreeBytes() int64 { return d.heap.FreeBytes() }

// CacheLine is the data cache line size in bytes (64 on the Cortex-A7).
func (d *DMA) CacheLine() int { return int(d.line) }

// Alloc returns size zeroed bytes aligned to align (a power of two) and
// to the cache line, padded to a whole number of lines so that no other
// object shares a line with them, and their physical address. They stay
// allocated until Free.
func (d *DMA) Alloc(size, align int) (buf []byte, addr uint64, err error) {
	if size <= 0 || size > math.MaxInt-int(d.line) {
		return nil, 0, fmt.Errorf("imx6: DMA alloc of %d bytes", size)
	}
	padded := (size + int(d.line) - 1) &^ (int(d.line) - 1)
	buf, addr, err = d.heap.Alloc(padded, max(align, int(d.line)))
	if err != nil {
		return nil, 0, err
	}
	return buf[:size:padded], addr, nil
}

// Free gives back a buffer from Alloc.
func (d *DMA) Free(buf []byte) { d.heap.Free(buf) }

// Addr reports buf's physical address when it lies in the Go runtime's
// RAM, which the uSDHC reaches directly (zero copy).
func (d *DMA) Addr(buf []byte) (addr uint64, ok bool) { return d.heap.Addr(buf) }

// Aligned reports whether buf starts and ends on cache-line boundaries,
// which a FromDevice buffer must (see DMA).
func (d *DMA) Aligned(buf []byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return p%d.line == 0 && uintptr(len(buf))%d.line == 0
}

// Share hands buf to the device for a transfer in direction dir (see
// DMA). It returns after the maintenance is complete (DSB).
func (d *DMA) Share(buf []byte, dir usdhc.Direction) { d.maintain(buf, dir, true) }

// Unshare takes buf back from the device after a transfer in direction
// dir. A FromDevice buffer's lines are invalidated; a partial line at
// either end is cleaned and invalidated instead, so that whatever else it
// holds is not lost.
func (d *DMA) Unshare(buf []byte, dir usdhc.Direction) { d.maintain(buf, dir, false) }

func (d *DMA) maintain(buf []byte, dir usdhc.Direction, share bool) {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	ops, k := maintenance(p, uintptr(len(buf)), d.line, dir, share)
	for _, o := range ops[:k] {
		switch o.op {
		case opClean:
			dcacheClean(o.start, o.end, d.line)
		case opCleanInvalidate:
			dcacheCleanInvalidate(o.start, o.end, d.line)
		case opInvalidate:
			dcacheInvalidate(o.start, o.end, d.line)
		}
	}
}

// defined in asm_arm.s
func dcacheLine() uint32
func dcacheClean(start, end, line uintptr)
func dcacheInvalidate(start, end, line uintptr)
func dcacheCleanInvalidate(start, end, line uintptr)
