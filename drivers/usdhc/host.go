// Package usdhc drives the NXP i.MX Ultra Secured Digital Host Controller
// (uSDHC) at register level, written from the i.MX 6UL/6ULL Applications
// Processor Reference Manual: an sdmmc.Host that moves data with ADMA2
// straight from and to the caller's buffers.
//
// The package never touches hardware. A board gives a Host its register
// window (Regs: any virtio.Regs implementation fits) and DMA memory with
// cache maintenance (DMA), after gating the controller's clocks and
// muxing its pins:
//
//	host := &usdhc.Host{Regs: regs, DMA: dma, BaseClock: 198_000_000, Width: sdmmc.Width4}
//	if err := host.Init(); err != nil { ... }
//	card, err := sdmmc.New(host, sdmmc.Options{})
//
// # DMA and caches
//
// The i.MX6 uSDHC is not cache-coherent: its ADMA engine reads and writes
// DDR behind the Cortex-A7's L1 and the L2 cache. There are two correct
// designs: buffers in memory mapped uncached (TamaGo's dma region is
// strongly ordered), needing no maintenance; or ordinary cacheable
// buffers, cleaned before the device reads them and invalidated around
// the device writing them. This driver is built for the second and works
// with the first: every buffer lent to the controller goes through
// DMA.Share before the transfer starts and DMA.Unshare after it ends, with
// its direction (rcore virtio-drivers' Hal::share), so a board with
// uncached DMA memory implements both as barriers only, and a board with
// cacheable buffers cleans and invalidates there.
//
// The driver's choice is cacheable buffers, straight from the caller: the
// swap manager copies, hashes and encrypts every byte it moves, and on
// silicon each of those passes over strongly-ordered memory makes every
// load and store a separate bus access with no cache line fill, where
// cacheable buffers cost one clean or invalidate by MVA per 64-byte line
// per transfer (1024 cache operations for 64 KiB) and run the CPU passes
// from the cache. QEMU models no caches, so neither cost can be measured
// here: the QEMU figures (9–17 MiB/s for 64 KiB–1 MiB requests
// through TamaGo's bounce region) and this repository's are bound by the
// emulated controller either way, and what the choice costs on a USB
// armory is not yet measured. A caller's buffer goes to the device
// directly when DMA.Addr reaches it and it is aligned for the transfer:
// 32-bit aligned for writes (ADMA2's rule), and cache-line aligned at both
// ends for reads, because invalidating a partial line would discard the
// CPU's writes to its neighbours. Other buffers are bounced through
// memory from DMA.Alloc (BounceSize bytes, allocated at Init). TamaGo's
// default 128 KiB OCRAM dma region is never used: a board hands over
// memory in DDR, or Addr for the Go heap.
//
// # Under QEMU
//
// QEMU 7.2's model of this controller (hw/sd/sdhci.c, TYPE_IMX_USDHC)
// differs from the silicon in ways this driver allows for: it issues no
// command and reports no SDSTB unless SYS_CTRL bits 3:0 are set (every
// SYS_CTRL write here sets them, as the silicon's reset value does); it
// ORs the last MIX_CTRL transfer mode into CMD_XFR_TYP writes (MIX_CTRL is
// written in full before every command, and CMD_XFR_TYP's reserved low
// half is written as zero, never read back and modified); it reports
// ADMA errors in the SDHCI bit (25) rather than DMAE (28); it sets no
// INT_STATUS bit whose INT_STATUS_EN bit is clear; and it raises no
// transfer complete after an R1b busy phase, so busy ends when
// PRES_STATE.CDIHB is clear and DAT0 (DLSL[0]) is high.
//
// # On silicon
//
// Init does not trust what the boot ROM, U-Boot or an earlier program
// left: RSTA does not reset VEND_SPEC, so its 1.8 V select and
// CRC_CHK_DIS are cleared; watermarks and burst lengths, PROT_CTRL's
// burst length enable, the ERR004536 bit and DLL_CTRL are set as Linux's
// sdhci-esdhc-imx.c sets them on every uSDHC. Every SYS_CTRL write keeps
// IPP_RST_N high (an eMMC with RST_n enabled is otherwise held in reset),
// and the status enables are written before every command and after
// every line reset.
package usdhc

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tamaswap/tamaswap/drivers/sdmmc"
	"github.com/tamaswap/tamaswap/virtio"
)

// Regs is 32-bit access to the controller's register window. Each call is
// exactly one access of the register; virtio.Regs implementations fit.
type Regs interface {
	Read32(off uint32) uint32     // one 32-bit load at offset off
	Write32(off uint32, v uint32) // one 32-bit store at offset off
}

// Direction is which way a transfer moves data.
type Direction uint8

const (
	ToDevice   Direction = iota + 1 // the controller reads memory (card writes)
	FromDevice                      // the controller writes memory (card reads)
)

// DMA is memory the controller reaches, and the hook where cache
// maintenance happens.
type DMA interface {
	// Alloc, Free and Addr as virtio.DMA: Alloc'd memory is what the
	// driver bounces through and keeps its descriptor table in; Addr
	// says whether a caller's buffer is reachable as it is.
	virtio.DMA
	// Share hands buf to the device for a transfer in direction dir,
	// before the transfer starts: on a non-coherent SoC, ToDevice cleans
	// the buffer's cache lines to memory and FromDevice cleans and
	// invalidates them (so no dirty line is later evicted over the
	// device's data). It ends with the barrier that orders these stores
	// before the register write that starts the DMA (DSB on ARM).
	Share(buf []byte, dir Direction)
	// Unshare gives buf back after the transfer has ended (the driver
	// has read the completion in INT_STATUS): FromDevice invalidates its
	// lines again (speculative reads may have refilled them during the
	// transfer), after the barrier that keeps the CPU's loads of the
	// data from passing that status read.
	Unshare(buf []byte, dir Direction)
}

// Defaults and limits.
const (
	defaultBaseClock  = 198_000_000 // PLL2 PFD2 396 MHz / 2, the i.MX6UL reset root clock
	defaultDMAAlign   = 64          // Cortex-A7 L1 line (the L2's is 32)
	defaultBounce     = 256 << 10
	defaultDescs      = 1024  // 8 KiB of table: 65535 blocks in descriptors of 63.5 KiB need 517
	maxBlockCount     = 65535 // BLK_ATT BLKCNT is 16 bits
	maxBlockSize      = 4096  // BLK_ATT BLKSIZE 12:0; 4096 is the largest the manual allows
	resetTimeout      = 100 * time.Millisecond
	clockTimeout      = 100 * time.Millisecond
	inhibitTimeout    = 100 * time.Millisecond
	spinsBeforeSleep  = 64
	pollSleep         = 20 * time.Microsecond
	highSpeedMaxClock = 52_000_000
)

// Host is one uSDHC controller. Set the fields, then call Init.
type Host struct {
	Regs Regs // the controller's register window
	DMA  DMA  // memory it reaches, and cache maintenance
	// BaseClock is the controller's root clock (USDHCn_CLK_ROOT) in Hz;
	// 0 means 198 MHz.
	BaseClock uint32
	// Width is the number of DAT lines wired to the slot: 1, 4 or 8;
	// 0 means 4.
	Width sdmmc.BusWidth
	// NonRemovable: a soldered eMMC; the card-detect signal is ignored.
	NonRemovable bool
	// NoWriteProtect: the slot has no write-protect switch (microSD);
	// the WP pin is ignored.
	NoWriteProtect bool
	// DMAAlign is the alignment, at both ends, that a caller's buffer
	// needs for the controller to write it directly: the cache line size
	// on a non-coherent SoC. 0 means 64; at least 4.
	DMAAlign int
	// BounceSize is the DMA memory for buffers the controller cannot
	// reach directly; 0 means 256 KiB.
	BounceSize int
	// Descriptors is the ADMA2 descriptor table's length; 0 means 1024.
	Descriptors int

	mu       sync.Mutex // serialises Request and SetIOS
	ready    bool
	mixCtrl  uint32 // MIX_CTRL bits above the transfer mode, as after reset
	protCtrl uint32 // PROT_CTRL as last written
	sysCtrl  uint32 // SYS_CTRL clock fields as last written
	table    []byte // ADMA2 descriptor table, in DMA memory
	tableA   uint64
	bounce   []byte
	bounceA  uint64
	segs     []segment // the current request's pieces
	clock    uint32
	irq      irqState // completion by interrupt (interrupt.go)
}

// segment is one piece of a data phase: a caller's buffer, direct or
// through a part of the bounce buffer.
type segment struct {
	buf     []byte // the caller's bytes
	addr    uint64 // device address of the bytes the controller moves
	bounced []byte // the bounce memory used, or nil
}

// Init resets the controller and readies it for identification. The
// board has enabled its clocks and pins.
func (h *Host) Init() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Regs == nil || h.DMA == nil {
		return errors.New("usdhc: Host needs Regs and DMA")
	}
	if h.BaseClock == 0 {
		h.BaseClock = defaultBaseClock
	}
	switch h.Width {
	case 0:
		h.Width = sdmmc.Width4
	case sdmmc.Width1, sdmmc.Width4, sdmmc.Width8:
	default:
		return fmt.Errorf("usdhc: bus width %d", h.Width)
	}
	if h.DMAAlign == 0 {
		h.DMAAlign = defaultDMAAlign
	}
	if h.DMAAlign < admaAlign || h.DMAAlign&(h.DMAAlign-1) != 0 || h.DMAAlign > 512 {
		return fmt.Errorf("usdhc: DMAAlign %d is not a power of two in 4..512", h.DMAAlign)
	}
	if h.BounceSize == 0 {
		h.BounceSize = defaultBounce
	}
	h.BounceSize = max(h.BounceSize, maxBlockSize) &^ (h.DMAAlign - 1)
	if h.Descriptors == 0 {
		h.Descriptors = defaultDescs
	}
	h.Descriptors = max(h.Descriptors, 4)

	// Reset all; RSTA clears itself when done. The write keeps
	// IPP_RST_N high like every SYS_CTRL write (writeSysCtrl).
	h.writeSysCtrl(1<<SYS_CTRL_RSTA | sysCtrlClocksOn)
	if !h.pollClear(USDHCx_SYS_CTRL, 1<<SYS_CTRL_RSTA, resetTimeout) {
		return fmt.Errorf("usdhc: reset did not complete: %w", sdmmc.ErrHost)
	}
	h.knownState()

	if h.table == nil {
		t, a, err := h.DMA.Alloc(h.Descriptors*admaDescSize, h.DMAAlign)
		if err != nil {
			return fmt.Errorf("usdhc: ADMA2 table: %w", err)
		}
		b, ba, err := h.DMA.Alloc(h.BounceSize, h.DMAAlign)
		if err != nil {
			h.DMA.Free(t)
			return fmt.Errorf("usdhc: bounce buffer: %w", err)
		}
		if a>>32 != 0 || (ba+uint64(len(b)))>>32 != 0 {
			h.DMA.Free(t)
			h.DMA.Free(b)
			return errors.New("usdhc: DMA memory above 4 GiB (ADMA2 is 32-bit)")
		}
		h.table, h.tableA, h.bounce, h.bounceA = t, a, b, ba
		h.segs = make([]segment, 0, h.Descriptors)
	}
	if err := h.setClock(400_000); err != nil {
		return err
	}
	// 80 clocks to the card before the first command (SD §6.4.1).
	h.writeSysCtrl(h.sysCtrl | 1<<SYS_CTRL_INITA)
	if !h.pollClear(USDHCx_SYS_CTRL, 1<<SYS_CTRL_INITA, clockTimeout) {
		return fmt.Errorf("usdhc: initialization clocks did not complete: %w", sdmmc.ErrHost)
	}
	h.ready = true
	return nil
}

// knownState sets what RSTA leaves alone, or what the boot ROM, U-Boot
// or an earlier program may have changed, to what this driver assumes.
func (h *Host) knownState() {
	// VEND_SPEC survives RSTA (IMX6ULLRM 58.8.26). A 1.8 V select left
	// by a UHS session would have a 3.3 V card sampled at the wrong
	// levels; CRC_CHK_DIS would let corrupted read data through.
	// FRC_SDCLK_ON is set by setClock once the clock is stable, as
	// Linux's esdhc_pltfm_set_clock does.
	vend := h.Regs.Read32(USDHCx_VEND_SPEC)
	vend &^= 1<<VEND_SPEC_VSELECT | 1<<VEND_SPEC_CRC_CHK_DIS | 1<<VEND_SPEC_FRC_SDCLK_ON
	h.Regs.Write32(USDHCx_VEND_SPEC, vend)
	h.mixCtrl = h.Regs.Read32(USDHCx_MIX_CTRL) &^ (mixCtrlXfer | 1<<22 | 1<<23 | 1<<24 | 1<<25)
	// Little endian, ADMA2, and BURST_LEN_EN's INCR bit, which the boot
	// ROM clears on the controller it booted from (Linux
	// sdhci_esdhc_imx_hwinit, ESDHC_BURST_LEN_EN_INCR).
	h.protCtrl = h.Regs.Read32(USDHCx_PROT_CTRL)&^protCtrlMask | emodeLittle<<PROT_CTRL_EMODE |
		dmaSelADMA2<<PROT_CTRL_DMASEL | 1<<PROT_CTRL_BURST_LEN_EN_INCR
	h.Regs.Write32(USDHCx_PROT_CTRL, h.protCtrl)
	// Watermarks and burst lengths (IMX6ULLRM 58.8.18 WTMK_LVL) as
	// Linux's ESDHC_WTMK_DEFAULT_VAL.
	h.Regs.Write32(USDHCx_WTMK_LVL, wtmkLvl)
	// Erratum ERR004536 (ADMA length mismatch on slow AHB reads): bit 7
	// of 0x6c clear enables the fix-up; Linux clears it on every uSDHC.
	h.Regs.Write32(USDHCx_ERR004536, h.Regs.Read32(USDHCx_ERR004536)&^(1<<7))
	// No delay line: DLL_CTRL is for DDR/HS400 sampling, which this
	// driver does not use (IMX6ULLRM 58.8.21; Linux writes 0 too).
	h.Regs.Write32(USDHCx_DLL_CTRL, 0)
	h.Regs.Write32(USDHCx_INT_SIGNAL_EN, 0) // polled, no interrupts
	h.Regs.Write32(USDHCx_INT_STATUS_EN, intEnabled)
	h.Regs.Write32(USDHCx_INT_STATUS, ^uint32(0))
}

// writeSysCtrl writes SYS_CTRL's clock, timeout and reset fields as v,
// keeping the register's other fields as they read, and IPP_RST_N high:
// with it low an eMMC whose RST_n function is enabled is held in
// hardware reset. (SYS_CTRL itself is read and modified; CMD_XFR_TYP
// never is, see the package comment.)
func (h *Host) writeSysCtrl(v uint32) {
	const fields = 0xf<<SYS_CTRL_DTOCV | 0xff<<SYS_CTRL_SDCLKFS | 0xf<<SYS_CTRL_DVS | sysCtrlClocksOn |
		1<<SYS_CTRL_RSTA | 1<<SYS_CTRL_RSTC | 1<<SYS_CTRL_RSTD | 1<<SYS_CTRL_INITA | 1<<SYS_CTRL_RSTT
	cur := h.Regs.Read32(USDHCx_SYS_CTRL) &^ (fields | 1<<SYS_CTRL_IPP_RST_N)
	h.Regs.Write32(USDHCx_SYS_CTRL, cur|v&fields|1<<SYS_CTRL_IPP_RST_N)
}

// Close gives back the driver's DMA memory. The controller is idle.
func (h *Host) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.table != nil {
		h.DMA.Free(h.table)
		h.DMA.Free(h.bounce)
		h.table, h.bounce = nil, nil
	}
	h.ready = false
}

// Caps reports the controller's abilities as configured.
func (h *Host) Caps() sdmmc.Caps {
	widths := []sdmmc.BusWidth{sdmmc.Width1}
	if h.Width >= sdmmc.Width4 {
		widths = append(widths, sdmmc.Width4)
	}
	if h.Width == sdmmc.Width8 {
		widths = append(widths, sdmmc.Width8)
	}
	return sdmmc.Caps{
		MaxClock:   min(h.BaseClock, highSpeedMaxClock),
		Widths:     widths,
		HighSpeed:  h.BaseClock >= 50_000_000,
		MaxBlocks:  maxBlockCount,
		MaxBlkSize: maxBlockSize,
		AutoCMD12:  true,
	}
}

// CardPresent reports PRES_STATE.CINST (always true when NonRemovable).
func (h *Host) CardPresent() bool {
	return h.NonRemovable || h.Regs.Read32(USDHCx_PRES_STATE)&(1<<PRES_STATE_CINST) != 0
}

// WriteProtected reports the write-protect switch: PRES_STATE.WPSPL low.
func (h *Host) WriteProtected() bool {
	return !h.NoWriteProtect && h.Regs.Read32(USDHCx_PRES_STATE)&(1<<PRES_STATE_WPSPL) == 0
}

// Clock reports the SD clock last set, in Hz.
func (h *Host) Clock() uint32 { return h.clock }

// SetIOS sets the bus clock, width and timing.
func (h *Host) SetIOS(ios sdmmc.IOS) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var dtw uint32
	switch ios.Width {
	case sdmmc.Width1:
	case sdmmc.Width4:
		dtw = 1
	case sdmmc.Width8:
		dtw = 2
	default:
		return fmt.Errorf("usdhc: bus width %d: %w", ios.Width, sdmmc.ErrBadParam)
	}
	if ios.Width > h.Width {
		return fmt.Errorf("usdhc: bus width %d on a %d-line slot: %w", ios.Width, h.Width, sdmmc.ErrBadParam)
	}
	h.protCtrl = h.protCtrl&^(3<<PROT_CTRL_DTW) | dtw<<PROT_CTRL_DTW
	h.Regs.Write32(USDHCx_PROT_CTRL, h.protCtrl)
	if ios.Clock != h.clock {
		return h.setClock(ios.Clock)
	}
	return nil
}

// setClock picks the prescaler and divisor that give the fastest clock
// not above hz: SDCLK = base / (prescaler × divisor), prescaler
// 1, 2, 4 … 256 (SDCLKFS 0, 1, 2 … 0x80), divisor 1..16 (DVS 0..15).
func (h *Host) setClock(hz uint32) error {
	if hz == 0 {
		return fmt.Errorf("usdhc: clock 0: %w", sdmmc.ErrBadParam)
	}
	bestPre, bestDiv, best := uint32(256), uint32(16), uint32(0)
	for pre := uint32(1); pre <= 256; pre <<= 1 {
		for div := uint32(1); div <= 16; div++ {
			f := h.BaseClock / (pre * div)
			if f <= hz && f > best {
				bestPre, bestDiv, best = pre, div, f
			}
		}
	}
	// No forced clock while the divider changes (IMX6ULLRM 58.7.7
	// "Change Clock Frequency": glitches), on again once stable, as
	// Linux's esdhc_pltfm_set_clock and TamaGo's setFreq do.
	vend := h.Regs.Read32(USDHCx_VEND_SPEC)
	h.Regs.Write32(USDHCx_VEND_SPEC, vend&^(1<<VEND_SPEC_FRC_SDCLK_ON))
	h.sysCtrl = dtocvMax<<SYS_CTRL_DTOCV | (bestPre>>1)<<SYS_CTRL_SDCLKFS | (bestDiv-1)<<SYS_CTRL_DVS | sysCtrlClocksOn
	h.writeSysCtrl(h.sysCtrl)
	if !h.pollSet(USDHCx_PRES_STATE, 1<<PRES_STATE_SDSTB, clockTimeout) {
		return fmt.Errorf("usdhc: SD clock %d Hz not stable: %w", best, sdmmc.ErrHost)
	}
	h.Regs.Write32(USDHCx_VEND_SPEC, vend|1<<VEND_SPEC_FRC_SDCLK_ON)
	h.clock = best
	return nil
}

// pollClear waits until the bits in mask read as zero.
func (h *Host) pollClear(off, mask uint32, timeout time.Duration) bool {
	return h.poll(off, mask, 0, timeout)
}

// pollSet waits until the bits in mask read as one.
func (h *Host) pollSet(off, mask uint32, timeout time.Duration) bool {
	return h.poll(off, mask, mask, timeout)
}

func (h *Host) poll(off, mask, want uint32, timeout time.Duration) bool {
	var deadline time.Time
	for spin := 0; ; spin++ {
		if h.Regs.Read32(off)&mask == want {
			return true
		}
		if spin == 0 {
			deadline = time.Now().Add(timeout)
			continue
		}
		if time.Now().After(deadline) {
			return h.Regs.Read32(off)&mask == want
		}
		if spin > spinsBeforeSleep {
			time.Sleep(pollSleep)
		}
	}
}

// waitInt waits until INT_STATUS has a bit of mask set and returns the
// status, or 0 after timeout.
// In interrupt mode it sleeps until the interrupt instead (waitIntIRQ);
// either way it follows a change of mode at once.
func (h *Host) waitInt(mask uint32, timeout time.Duration) uint32 {
	deadline := time.Now().Add(timeout)
	for spin := 0; ; spin++ {
		if h.irq.on.Load() {
			if st, ok := h.waitIntIRQ(mask, deadline); ok {
				return st
			}
		}
		if st := h.Regs.Read32(USDHCx_INT_STATUS); st&mask != 0 {
			return st
		}
		if time.Now().After(deadline) {
			return h.Regs.Read32(USDHCx_INT_STATUS) & mask
		}
		if spin > spinsBeforeSleep {
			time.Sleep(pollSleep)
		}
	}
}

// AllocBuffer returns DMA memory aligned for direct transfers, for
// sdmmc.Card.AllocBuffer.
func (h *Host) AllocBuffer(size int) ([]byte, error) {
	if size <= 0 {
		return nil, fmt.Errorf("usdhc: buffer size %d", size)
	}
	b, _, err := h.DMA.Alloc((size+h.align()-1)&^(h.align()-1), h.align())
	if err != nil {
		return nil, err
	}
	return b[:size:size], nil
}

// FreeBuffer gives back a buffer from AllocBuffer.
func (h *Host) FreeBuffer(buf []byte) { h.DMA.Free(buf) }

func (h *Host) align() int {
	if h.DMAAlign == 0 {
		return defaultDMAAlign
	}
	return h.DMAAlign
}
