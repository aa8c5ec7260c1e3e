// Package usdhctest is an in-process model of the i.MX uSDHC host
// controller, speaking the same registers as the silicon (and as strict as
// QEMU 7.2's model where QEMU is strict), with ADMA2 over a model of DMA
// memory, and an SD card or eMMC from sdmmctest in its slot. It is for
// host tests of drivers/usdhc and drivers/sdmmc:
//
//	card, _ := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 20})
//	m := usdhctest.New(usdhctest.Config{Card: card})
//	host := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA()}
//
// The model records what a driver does wrong (Violations): commands
// issued with the SD clock off, transfer-mode bits written into
// CMD_XFR_TYP, data moved through memory that was not shared with the
// device in that direction, descriptors that were not shared, misaligned
// ADMA2 addresses, wrong response types, commands issued while the card
// holds DAT0 busy, and data transfers with the controller in a state a
// boot ROM may leave (watermarks, burst length enable, DLL_CTRL, the
// ERR004536 bit).
//
// It is as strict as the silicon may be where the manual leaves room:
// RSTA leaves VEND_SPEC as it was (a 1.8 V select makes the 3.3 V card
// deaf; CRC_CHK_DIS lets corrupted read data through); RSTC and RSTD clear
// INT_STATUS_EN and INT_SIGNAL_EN; a SYS_CTRL write with IPP_RST_N low resets an eMMC (it
// returns to idle and the next command goes unanswered); after an R1b
// response CDIHB clears at once but DAT0 stays low for a few PRES_STATE
// reads, and transfer complete comes only when it rises.
//
// Its interrupt line (Config.OnInterrupt) is level: high while a status
// bit is set whose signal enable is set, whatever else is set; status bits
// clear only by writing 1 to them. With Config.Delay, completions come
// later in real time, so a driver that waits for the interrupt sees the
// line rise; Config.DropInterrupts loses rises on the way to the GIC.
package usdhctest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tamaswap/tamaswap/drivers/sdmmc/sdmmctest"
	"github.com/tamaswap/tamaswap/drivers/usdhc"
)

// Config describes the model.
type Config struct {
	Card    *sdmmctest.Card // nil: an empty slot
	DMASize int             // DMA memory; 0 means 8 MiB
	// WriteProtect drives the slot's write-protect pin (WPSPL low).
	WriteProtect bool
	// StuckDataReset: SYS_CTRL.RSTD never completes, as if the DMA
	// engine would not stop.
	StuckDataReset bool
	// Latency is how many INT_STATUS reads pass before a command's
	// status bits show, as on silicon (and QEMU, whose ADMA runs on a
	// timer) where completion comes later than the register write.
	Latency int
	// BootROM starts the model as a boot ROM or U-Boot may leave it:
	// VEND_SPEC with the 1.8 V select and CRC_CHK_DIS set, watermarks
	// of 0, PROT_CTRL's burst length enable clear, DLL_CTRL in use and
	// the ERR004536 fix-up off.
	BootROM bool
	// BusyReads is how many PRES_STATE reads DAT0 stays low after an
	// R1b response; 0 means 4, negative none.
	BusyReads int
	// FailWidth makes data at this bus width or wider fail its CRC
	// (a board whose upper data lines are bad); 0: none.
	FailWidth int
	// FailClock makes data and command responses fail their CRC when
	// the SD clock is above this many Hz (a bus that does not hold High
	// Speed); 0: none.
	FailClock uint32
	// BaseClock is the root clock the model assumes to derive the SD
	// clock for FailClock; 0 means 198 MHz.
	BaseClock uint32
	// Delay makes a command's status bits show this long after the
	// register write that started it, in real time, instead of after
	// Latency reads: a driver that sleeps until the interrupt reads
	// nothing meanwhile, as on silicon.
	Delay time.Duration
	// OnInterrupt is the controller's interrupt line (to the GIC): it
	// is called, in a goroutine of its own, after each time the line
	// rises (once for several rises it has not yet seen).
	// The line is high while INT_STATUS & INT_SIGNAL_EN is not zero
	// (IMX6ULLRM 58.8.15 INT_SIGNAL_EN: a status bit raises the
	// interrupt only with its signal enable set, and only a status bit
	// whose INT_STATUS_EN is set is ever set), so it stays high, and
	// rises no more, until the driver clears those status bits (write 1
	// to clear) or their signal enables.
	OnInterrupt func()
	// DropInterrupts loses the first that many rises of the line: the
	// GIC never sees them (a lost interrupt).
	DropInterrupts int
}

// Desc is an ADMA2 transfer descriptor the model followed.
type Desc struct {
	Addr uint32 // data address
	Len  int    // bytes
}

// Controller is the model. It is safe for concurrent use.
type Controller struct {
	cfg Config
	dma *DMA

	mu                         sync.Mutex
	card                       *sdmmctest.Card
	wp                         bool
	dsAddr, blkAtt, cmdArg     uint32
	rsp                        [4]uint32
	protCtrl, sysCtrl          uint32
	intStatus, intEn, intSig   uint32
	ac12, wtmk, mix, vend      uint32
	admaErr, admaAddr          uint32
	dll, err004536             uint32
	dat0Low                    int  // PRES_STATE reads until DAT0 rises (R1b busy)
	dat0Stuck                  bool // the card never releases DAT0
	busyTC                     bool // raise TC when DAT0 rises
	busyDTO                    int  // PRES_STATE reads until a stuck busy raises DTOE
	hwResets                   int
	booted                     bool // past New: RSTA is the driver's
	violations                 []string
	commands, blocks, autoStop int
	descs                      []Desc
	block                      []byte        // one block in flight, reused
	pending                    uint32        // status bits not yet visible (Latency)
	wait                       int           // INT_STATUS reads until they are
	delay                      *time.Timer   // delivers pending bits after Delay
	kick                       chan struct{} // to the OnInterrupt goroutine
	line                       bool          // the interrupt line is high
	rises, dropped             int           // rises of the line; of those, lost
	toDrop                     int           // rises still to lose
}

// New returns a model just out of reset.
func New(cfg Config) *Controller {
	if cfg.DMASize == 0 {
		cfg.DMASize = 8 << 20
	}
	if cfg.BusyReads == 0 {
		cfg.BusyReads = 4
	}
	if cfg.BaseClock == 0 {
		cfg.BaseClock = 198_000_000
	}
	c := &Controller{cfg: cfg, dma: newDMA(cfg.DMASize), card: cfg.Card, wp: cfg.WriteProtect, toDrop: cfg.DropInterrupts}
	if cfg.OnInterrupt != nil {
		// One goroutine is the CPU taking the interrupt: the handler
		// runs at least once after each rise.
		c.kick = make(chan struct{}, 1)
		go func() {
			for range c.kick {
				cfg.OnInterrupt()
			}
		}()
	}
	c.vend = 0x20007809
	c.reset()
	if cfg.BootROM {
		c.vend |= 1<<usdhc.VEND_SPEC_VSELECT | 1<<usdhc.VEND_SPEC_CRC_CHK_DIS
		c.protCtrl &^= 1 << usdhc.PROT_CTRL_BURST_LEN_EN_INCR
		c.wtmk = 0
		c.dll = 0x00000101
		c.err004536 = 1 << 7
	}
	c.booted = true
	return c
}

// reset is RSTA. Like QEMU's model (and unlike the silicon, whose reset
// value is 0x0080800F) it leaves SYS_CTRL's clock bits clear, so a driver
// that does not set them is caught; IPP_RST_N reads high as on the
// silicon. VEND_SPEC, DLL_CTRL and the ERR004536 register keep their
// values (IMX6ULLRM: RSTA does not reset VEND_SPEC).
func (c *Controller) reset() {
	// With BootROM, what Linux rewrites after the ROM (its comments:
	// the ROM "will change the default watermark level setting to
	// something insane" and clears BURST_LEN_EN) survives RSTA too:
	// the strict reading, which only an explicit write repairs.
	keepBurst, keepWtmk := c.protCtrl&(7<<27), c.wtmk
	c.dsAddr, c.blkAtt, c.cmdArg, c.rsp = 0, 0, 0, [4]uint32{}
	c.protCtrl = 0x08800020
	c.sysCtrl = 1 << usdhc.SYS_CTRL_IPP_RST_N
	c.intStatus, c.intEn, c.intSig, c.ac12 = 0, 0, 0, 0
	c.wtmk, c.mix = 0x08100810, 0x80000000
	if c.cfg.BootROM && c.booted {
		c.protCtrl = c.protCtrl&^(7<<27) | keepBurst
		c.wtmk = keepWtmk
	}
	c.admaErr, c.admaAddr = 0, 0
	c.pending, c.wait = 0, 0
	c.dat0Low, c.dat0Stuck, c.busyTC = 0, false, false
}

// HardwareResets reports how many times the driver pulled IPP_RST_N low.
func (c *Controller) HardwareResets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hwResets
}

// VendSpec returns VEND_SPEC as the model holds it.
func (c *Controller) VendSpec() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.vend
}

// Regs returns the register window.
func (c *Controller) Regs() usdhc.Regs { return regs{c} }

// DMA returns the DMA memory.
func (c *Controller) DMA() *DMA { return c.dma }

// SetWriteProtect drives the write-protect pin.
func (c *Controller) SetWriteProtect(on bool) {
	c.mu.Lock()
	c.wp = on
	c.mu.Unlock()
}

// SetCard inserts a card, or with nil removes it.
func (c *Controller) SetCard(card *sdmmctest.Card) {
	c.mu.Lock()
	c.card = card
	c.mu.Unlock()
}

// Violations returns what the driver did wrong, in order.
func (c *Controller) Violations() []string {
	c.mu.Lock()
	v := append([]string(nil), c.violations...)
	c.mu.Unlock()
	c.dma.mu.Lock()
	v = append(v, c.dma.violations...)
	c.dma.mu.Unlock()
	return v
}

// Commands reports the commands issued, data blocks moved and auto
// CMD12s sent.
func (c *Controller) Commands() (commands, blocks, autoStops int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commands, c.blocks, c.autoStop
}

// LastDescriptors returns the transfer descriptors of the last data
// command.
func (c *Controller) LastDescriptors() []Desc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Desc(nil), c.descs...)
}

func (c *Controller) violate(format string, args ...any) {
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

// raise sets INT_STATUS bits that INT_STATUS_EN enables, after Latency
// reads of INT_STATUS.
func (c *Controller) raise(bits uint32) {
	switch {
	case c.cfg.Delay > 0:
		c.pending |= bits & c.intEn
		if c.delay == nil {
			c.delay = time.AfterFunc(c.cfg.Delay, c.deliver)
		} else {
			c.delay.Reset(c.cfg.Delay)
		}
	case c.cfg.Latency == 0:
		c.intStatus |= bits & c.intEn
	default:
		c.pending |= bits & c.intEn
		c.wait = c.cfg.Latency
	}
}

// deliver shows the pending status bits (Delay).
func (c *Controller) deliver() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.intStatus |= c.pending
	c.pending = 0
	c.updateLine()
}

// updateLine drives the interrupt line from INT_STATUS and INT_SIGNAL_EN
// after every change of either.
func (c *Controller) updateLine() {
	high := c.intStatus&c.intSig != 0
	if high && !c.line {
		c.rises++
		switch {
		case c.toDrop > 0:
			c.toDrop--
			c.dropped++
		case c.kick != nil:
			select {
			case c.kick <- struct{}{}:
			default: // the handler has yet to run for an earlier rise
			}
		}
	}
	c.line = high
}

// LoseInterrupts loses the next n rises of the line, as
// Config.DropInterrupts does from the start.
func (c *Controller) LoseInterrupts(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.toDrop += n
}

// SetDelay changes Config.Delay: a long one makes a controller that
// seems to hang, for timeout tests.
func (c *Controller) SetDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.Delay = d
}

// Line reports whether the interrupt line is high.
func (c *Controller) Line() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.line
}

// Rises reports how many times the interrupt line rose, and how many of
// those DropInterrupts lost.
func (c *Controller) Rises() (rises, dropped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rises, c.dropped
}

func (c *Controller) clocksOn() bool { return c.sysCtrl&0xf == 0xf }

type regs struct{ c *Controller }

func (r regs) Read32(off uint32) uint32 {
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	// A read makes Latency's status bits visible, or releases DAT0.
	defer c.updateLine()
	switch off {
	case usdhc.USDHCx_DS_ADDR:
		return c.dsAddr
	case usdhc.USDHCx_BLK_ATT:
		return c.blkAtt
	case usdhc.USDHCx_CMD_ARG:
		return c.cmdArg
	case usdhc.USDHCx_CMD_XFR_TYP:
		return 0
	case usdhc.USDHCx_CMD_RSP0, usdhc.USDHCx_CMD_RSP1, usdhc.USDHCx_CMD_RSP2, usdhc.USDHCx_CMD_RSP3:
		return c.rsp[(off-usdhc.USDHCx_CMD_RSP0)/4]
	case usdhc.USDHCx_PRES_STATE:
		var v uint32
		if c.clocksOn() {
			v |= 1 << usdhc.PRES_STATE_SDSTB
		}
		if c.card != nil {
			v |= 1<<usdhc.PRES_STATE_CINST | 1<<18
		}
		if !c.wp {
			v |= 1 << usdhc.PRES_STATE_WPSPL
		}
		if c.cfg.StuckDataReset && c.sysCtrl&(1<<usdhc.SYS_CTRL_RSTD) != 0 {
			v |= 1<<usdhc.PRES_STATE_CDIHB | 1<<usdhc.PRES_STATE_DLA
		}
		if c.dat0Stuck {
			if c.busyDTO--; c.busyDTO == 0 {
				c.raise(1 << usdhc.INT_STATUS_DTOE)
			}
		} else if c.dat0Low > 0 {
			if c.dat0Low--; c.dat0Low == 0 && c.busyTC {
				c.busyTC = false
				c.raise(1 << usdhc.INT_STATUS_TC)
			}
		}
		if c.dat0Low == 0 && !c.dat0Stuck {
			v |= 1 << usdhc.PRES_STATE_DLSL0
		}
		return v
	case usdhc.USDHCx_PROT_CTRL:
		return c.protCtrl
	case usdhc.USDHCx_SYS_CTRL:
		return c.sysCtrl
	case usdhc.USDHCx_INT_STATUS:
		if c.pending != 0 && c.cfg.Delay == 0 {
			if c.wait--; c.wait <= 0 {
				c.intStatus |= c.pending
				c.pending = 0
			}
		}
		return c.intStatus
	case usdhc.USDHCx_INT_STATUS_EN:
		return c.intEn
	case usdhc.USDHCx_INT_SIGNAL_EN:
		return c.intSig
	case usdhc.USDHCx_AUTOCMD12_ERR_STATUS:
		return c.ac12
	case usdhc.USDHCx_HOST_CTRL_CAP:
		return 0x07f3b407
	case usdhc.USDHCx_WTMK_LVL:
		return c.wtmk
	case usdhc.USDHCx_MIX_CTRL:
		return c.mix
	case usdhc.USDHCx_ADMA_ERR_STATUS:
		return c.admaErr
	case usdhc.USDHCx_ADMA_SYS_ADDR:
		return c.admaAddr
	case usdhc.USDHCx_VEND_SPEC:
		return c.vend
	case usdhc.USDHCx_DLL_CTRL:
		return c.dll
	case usdhc.USDHCx_ERR004536:
		return c.err004536
	}
	c.violate("read of unmodelled register %#x", off)
	return 0
}

func (r regs) Write32(off uint32, v uint32) {
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.updateLine()
	switch off {
	case usdhc.USDHCx_DS_ADDR:
		c.dsAddr = v
	case usdhc.USDHCx_BLK_ATT:
		c.blkAtt = v
	case usdhc.USDHCx_CMD_ARG:
		c.cmdArg = v
	case usdhc.USDHCx_CMD_XFR_TYP:
		c.command(v)
	case usdhc.USDHCx_PROT_CTRL:
		c.protCtrl = v
	case usdhc.USDHCx_SYS_CTRL:
		c.sysCtrlWrite(v)
	case usdhc.USDHCx_INT_STATUS:
		c.intStatus &^= v
	case usdhc.USDHCx_INT_STATUS_EN:
		c.intEn = v
		c.intStatus &= v
	case usdhc.USDHCx_INT_SIGNAL_EN:
		c.intSig = v
	case usdhc.USDHCx_WTMK_LVL:
		c.wtmk = v
	case usdhc.USDHCx_MIX_CTRL:
		c.mix = v
	case usdhc.USDHCx_ADMA_ERR_STATUS:
		c.admaErr = v
	case usdhc.USDHCx_ADMA_SYS_ADDR:
		c.admaAddr = v
	case usdhc.USDHCx_VEND_SPEC:
		c.vend = v
	case usdhc.USDHCx_DLL_CTRL:
		c.dll = v
	case usdhc.USDHCx_ERR004536:
		c.err004536 = v
	default:
		c.violate("write of unmodelled register %#x", off)
	}
}

func (c *Controller) sysCtrlWrite(v uint32) {
	const rsta, rstc, rstd, inita = 1 << usdhc.SYS_CTRL_RSTA, 1 << usdhc.SYS_CTRL_RSTC, 1 << usdhc.SYS_CTRL_RSTD, 1 << usdhc.SYS_CTRL_INITA
	if v&rsta != 0 {
		c.reset()
		v &^= rsta
	}
	if v&(1<<usdhc.SYS_CTRL_IPP_RST_N) == 0 {
		// RST_n low: an eMMC with its reset function enabled goes
		// back to idle (JESD84-B51 §6.15.10).
		c.hwResets++
		if c.card != nil {
			c.card.HardwareReset()
		}
	}
	if v&(rstc|rstd) != 0 {
		c.pending = 0
		// The strict reading: the resets clear the status and signal
		// enables too, and a driver must set them again.
		c.intEn, c.intSig = 0, 0
	}
	if v&rstc != 0 {
		c.intStatus &^= 1<<usdhc.INT_STATUS_CC | 0xf<<16
	}
	if v&rstd != 0 {
		c.intStatus &^= 1<<usdhc.INT_STATUS_TC | 1<<usdhc.INT_STATUS_DINT | 0x7<<20 | 1<<24 | 1<<25 | 1<<28
	}
	keep := uint32(0)
	if c.cfg.StuckDataReset {
		keep = (v | c.sysCtrl) & rstd
	}
	c.sysCtrl = v&^(rstc|rstd|inita) | keep
}

// response types of CMD_XFR_TYP.RSPTYP
const (
	rspNone, rsp136, rsp48, rsp48Busy = 0, 1, 2, 3
)

func (c *Controller) command(xfr uint32) {
	if xfr&0xffff != 0 {
		c.violate("CMD_XFR_TYP written with bits 15:0 = %#04x (QEMU ORs them with the transfer mode)", xfr&0xffff)
	}
	if !c.clocksOn() {
		c.violate("command %d issued with SYS_CTRL clocks off (%#08x): it never runs", xfr>>24&0x3f, c.sysCtrl)
		return
	}
	c.commands++
	index := uint8(xfr >> 24 & 0x3f)
	rspType := xfr >> 16 & 3
	if (c.dat0Low > 0 || c.dat0Stuck) && index != 0 && index != 13 && xfr>>22&3 != 3 {
		c.violate("CMD%d issued while the card holds DAT0 busy", index)
	}
	if c.vend&(1<<usdhc.VEND_SPEC_VSELECT) != 0 {
		// 1.8 V signalling to a card at 3.3 V: nothing it hears.
		if rspType != rspNone {
			c.raise(1 << usdhc.INT_STATUS_CTOE)
		}
		return
	}
	var resp sdmmctest.Response
	ok := false
	if c.card != nil {
		resp, ok = c.card.Command(index, c.cmdArg)
	}
	if !ok {
		if rspType != rspNone {
			c.raise(1 << usdhc.INT_STATUS_CTOE)
			return
		}
	} else if rspType != rspNone {
		if resp.Long != (rspType == rsp136) {
			c.violate("CMD%d: response type %d, card answered long=%t", index, rspType, resp.Long)
		}
		if (resp.CRC || c.clockFault()) && xfr&(1<<usdhc.CMD_XFR_TYP_CCCEN) != 0 {
			c.raise(1 << usdhc.INT_STATUS_CCE)
			return
		}
		r := resp.R
		if resp.Long {
			c.rsp = [4]uint32{r[3]>>8 | r[2]<<24, r[2]>>8 | r[1]<<24, r[1]>>8 | r[0]<<24, r[0] >> 8}
		} else {
			c.rsp[0] = r[0]
		}
	}
	if rspType == rsp48Busy && xfr&(1<<usdhc.CMD_XFR_TYP_DPSEL) == 0 && c.cfg.BusyReads > 0 {
		// Busy on DAT0 after the response; transfer complete when it
		// ends. A card stuck busy outlasts the data timeout.
		c.dat0Low, c.busyTC = c.cfg.BusyReads, true
		if c.card != nil && c.card.StuckBusy() {
			c.dat0Stuck, c.busyDTO = true, 8*c.cfg.BusyReads
		}
	}
	c.raise(1 << usdhc.INT_STATUS_CC)
	if xfr&(1<<usdhc.CMD_XFR_TYP_DPSEL) != 0 {
		c.data(index)
	}
}

// checkState records a data transfer started with the controller in a
// state the driver should have set up at Init.
func (c *Controller) checkState(index uint8) {
	w := c.wtmk
	for _, f := range []uint32{w & 0xff, w >> 16 & 0xff} {
		if f == 0 || f > 128 {
			c.violate("CMD%d: data with WTMK_LVL %#08x (watermark outside 1..128 words)", index, w)
			break
		}
	}
	if w>>8&0x1f == 0 || w>>24&0x1f == 0 {
		c.violate("CMD%d: data with WTMK_LVL %#08x (burst length 0)", index, w)
	}
	if c.protCtrl&(1<<usdhc.PROT_CTRL_BURST_LEN_EN_INCR) == 0 {
		c.violate("CMD%d: data with PROT_CTRL BURST_LEN_EN INCR clear (AHB bursts become singles)", index)
	}
	if c.dll != 0 {
		c.violate("CMD%d: data with DLL_CTRL %#x", index, c.dll)
	}
	if c.err004536&(1<<7) != 0 {
		c.violate("CMD%d: data with the ERR004536 fix-up disabled (0x6c bit 7 set)", index)
	}
}

// lineFault reports whether the bus as configured corrupts data.
func (c *Controller) lineFault() bool {
	if c.cfg.FailWidth != 0 {
		w := []int{1, 4, 8, 8}[c.protCtrl>>usdhc.PROT_CTRL_DTW&3]
		if w >= c.cfg.FailWidth {
			return true
		}
	}
	return c.clockFault()
}

// clockFault reports whether the clock as configured is faster than the
// bus holds: then the CMD line's responses fail their CRC as the data
// lines' blocks do.
func (c *Controller) clockFault() bool {
	if c.cfg.FailClock != 0 {
		pre := c.sysCtrl >> usdhc.SYS_CTRL_SDCLKFS & 0xff
		div := c.sysCtrl>>usdhc.SYS_CTRL_DVS&0xf + 1
		p := max(pre*2, 1)
		if c.cfg.BaseClock/(p*div) > c.cfg.FailClock {
			return true
		}
	}
	return false
}

var (
	errADMA     = errors.New("adma")
	errTimeout  = errors.New("timeout")
	errDataCRC  = errors.New("crc")
	errBlkCount = errors.New("block count")
)

// data runs the data phase with ADMA2, synchronously.
func (c *Controller) data(index uint8) {
	c.descs = c.descs[:0]
	if c.card == nil {
		c.raise(1 << usdhc.INT_STATUS_DTOE)
		return
	}
	if c.mix&(1<<usdhc.MIX_CTRL_DMAEN) == 0 || c.protCtrl>>usdhc.PROT_CTRL_DMASEL&3 != 2 {
		c.violate("CMD%d: data without ADMA2 (MIX_CTRL %#x, PROT_CTRL %#x): PIO is not modelled", index, c.mix, c.protCtrl)
		c.raise(1 << usdhc.INT_STATUS_DTOE)
		return
	}
	blkSize := int(c.blkAtt & 0x1fff)
	blkCnt := int(c.blkAtt >> 16)
	read := c.mix&(1<<usdhc.MIX_CTRL_DTDSEL) != 0
	multi := c.mix&(1<<usdhc.MIX_CTRL_MSBSEL) != 0
	bcen := c.mix&(1<<usdhc.MIX_CTRL_BCEN) != 0
	if blkSize == 0 || (bcen && blkCnt == 0) {
		c.violate("CMD%d: BLK_ATT %#x", index, c.blkAtt)
		c.raise(1 << usdhc.INT_STATUS_DTOE)
		return
	}
	if !multi {
		blkCnt = 1
	}
	c.checkState(index)
	err := c.adma(blkSize, blkCnt, read)
	if err == nil && c.lineFault() {
		err = errDataCRC
	}
	if errors.Is(err, errDataCRC) && read && c.vend&(1<<usdhc.VEND_SPEC_CRC_CHK_DIS) != 0 {
		err = nil // the check is off: the corrupted data goes through
	}
	switch {
	case errors.Is(err, errADMA) || errors.Is(err, errBlkCount):
		c.raise(1 << usdhc.INT_STATUS_DMAE)
		return
	case errors.Is(err, errDataCRC):
		c.raise(1 << usdhc.INT_STATUS_DCE)
		return
	case err != nil:
		c.raise(1 << usdhc.INT_STATUS_DTOE)
		return
	}
	if multi && c.mix&(1<<usdhc.MIX_CTRL_AC12EN) != 0 {
		c.autoStop++
		resp, ok := c.card.Command(12, 0)
		if !ok {
			c.ac12 = 1 << 1 // AC12TOE
			c.raise(1 << usdhc.INT_STATUS_AC12E)
			return
		}
		c.rsp[3] = resp.R[0]
	}
	c.raise(1 << usdhc.INT_STATUS_TC)
}

// adma follows the descriptor table, moving blkCnt blocks.
func (c *Controller) adma(blkSize, blkCnt int, read bool) error {
	dir := usdhc.ToDevice
	if read {
		dir = usdhc.FromDevice
	}
	if cap(c.block) < blkSize {
		c.block = make([]byte, blkSize)
	}
	block := c.block[:blkSize]
	fill, done := 0, 0
	addr := uint64(c.admaAddr)
	for n := 0; n < 4096; n++ {
		e, ok := c.dma.Slice(addr, 8)
		if !ok {
			c.admaErr = 1 // ST_FDS
			return fmt.Errorf("%w: descriptor at %#x outside memory", errADMA, addr)
		}
		if !c.dma.covered(addr, 8, usdhc.ToDevice) {
			c.violate("ADMA2 descriptor at %#x read without being shared", addr)
		}
		attr := binary.LittleEndian.Uint32(e)
		da := binary.LittleEndian.Uint32(e[4:])
		length := int(attr >> 16)
		if length == 0 {
			length = 65536
		}
		if attr&1 == 0 {
			c.admaErr = 1
			return fmt.Errorf("%w: invalid descriptor at %#x", errADMA, addr)
		}
		switch attr >> 4 & 3 {
		case 2: // tran
			if da%4 != 0 {
				c.violate("ADMA2 data address %#x not 32-bit aligned", da)
			}
			mem, ok := c.dma.Slice(uint64(da), uint64(length))
			if !ok {
				c.admaErr = 2 // ST_TFR
				return fmt.Errorf("%w: data %#x+%d outside memory", errADMA, da, length)
			}
			if !c.dma.covered(uint64(da), length, dir) {
				c.violate("ADMA2 data %#x+%d moved without being shared for direction %d", da, length, dir)
			}
			c.descs = append(c.descs, Desc{da, length})
			for len(mem) > 0 && done < blkCnt {
				if read {
					if fill == 0 {
						if err := c.card.ReadData(block); err != nil {
							// With CRC_CHK_DIS the controller
							// takes a corrupted block as good.
							if !errors.Is(err, sdmmctest.ErrDataCRC) || c.vend&(1<<usdhc.VEND_SPEC_CRC_CHK_DIS) == 0 {
								return cardErr(err)
							}
						}
					}
					k := copy(mem, block[fill:])
					mem, fill = mem[k:], fill+k
				} else {
					k := copy(block[fill:], mem)
					mem, fill = mem[k:], fill+k
					if fill == blkSize {
						if err := c.card.WriteData(block); err != nil {
							return cardErr(err)
						}
					}
				}
				if fill == blkSize {
					fill = 0
					done++
					c.blocks++
				}
			}
			if len(mem) > 0 {
				c.admaErr = 1 << 2 // ADMALME
				return fmt.Errorf("%w: descriptors longer than the blocks", errBlkCount)
			}
			addr += 8
		case 3: // link
			addr = uint64(da)
		default:
			addr += 8
		}
		if done == blkCnt {
			return nil
		}
		if attr&2 != 0 {
			c.admaErr = 1 << 2
			return fmt.Errorf("%w: end after %d of %d blocks", errBlkCount, done, blkCnt)
		}
	}
	return fmt.Errorf("%w: descriptor loop", errADMA)
}

func cardErr(err error) error {
	if errors.Is(err, sdmmctest.ErrDataCRC) {
		return errDataCRC
	}
	return errTimeout
}
