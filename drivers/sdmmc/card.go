// Package sdmmc is an SD and eMMC memory-card driver over any host
// controller: card identification, bus set-up and a block.Device, written
// from the SD Physical Layer Simplified Specification (version 9.00) and
// JEDEC JESD84-B51 (eMMC 5.1).
//
// The package never touches hardware. A host controller (Host: the i.MX
// uSDHC driver in drivers/usdhc, or a test model) carries commands and data
// phases; this package decides which commands to send.
//
// New identifies the card in the slot:
//
//   - SD version 1.x standard capacity (no answer to CMD8), SD version 2+
//     standard capacity (OCR CCS clear: byte addresses) and high or
//     extended capacity (CCS set: block addresses), from the OCR's CCS
//     bit and never from CMD8 alone;
//   - eMMC (CMD1), byte or sector addressed, its size from EXT_CSD when
//     the CSD says the device is over 2 GiB.
//
// It then selects the widest bus both sides support, High Speed timing when
// the host can clock it, and 512-byte blocks. Reads and writes use
// CMD17/CMD24 for one block and CMD18/CMD25 for more, ended by SET_BLOCK_COUNT
// (CMD23) where the card supports it, else by STOP_TRANSMISSION (CMD12),
// sent by the host when it can. Requests are split at the host's limits
// (Host.Fit). After every write the card's status is polled until it is
// ready for data again, and after every read without a stop response the
// status is read too, so that error bits the card reports late
// (CARD_ECC_FAILED, CC_ERROR, ERROR, OUT_OF_RANGE) fail the request that
// raised them. A data CRC error or data timeout is retried once (Stats).
//
// Durability: on an SD card, and on an eMMC without a volatile cache, a
// Write that returns nil is programmed. With an eMMC's cache on (enabled
// at New when the device has one, unless Options.NoCache), a Write that
// returns nil is in the cache and is not durable until Flush returns nil:
// power loss before that loses it. The swap manager (drivers/swapfs)
// never calls Flush, by design: swap dies with the program that wrote it,
// so nothing it writes needs to survive power loss.
//
// Discard is ERASE (SD: CMD32/33/38), or TRIM on an eMMC that has it and
// is not known to corrupt data with it (quirks.go); Flush flushes an
// eMMC's volatile cache and otherwise has nothing to do. Every wait is
// bounded by a timeout from the card's registers (timeout.go), and a card
// that stops answering costs one timeout: it is marked gone (ErrGone)
// until Reidentify finds it again. After identification a test read
// checks the bus setting; while it fails, the driver steps down to
// default speed, then to one data line (ladder.go). An eMMC's 8-bit (or
// 4-bit) bus is kept only when EXT_CSD reads back the same at that width.
//
// Not used: UHS-I (SDR50/SDR104, 1.8 V signalling) and eMMC HS200/DDR,
// which need the board's voltage switch and sampling-point tuning; boot
// and RPMB partitions (the user area is used, and selected at New if a
// boot partition was left selected).
//
// A board wires it as
//
//	host := &usdhc.Host{Regs: regs, DMA: dma, ...}
//	if err := host.Init(); err != nil { ... }
//	card, err := sdmmc.New(host, sdmmc.Options{})
//	// card is a block.Device
package sdmmc

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// Kind is the family and capacity class of a card.
type Kind uint8

const (
	SDSC Kind = iota + 1 // SD standard capacity (byte addressed)
	SDHC                 // SD high or extended capacity (block addressed)
	MMC                  // eMMC or MMC
)

// String returns the kind's usual name: SDSC, SDHC or eMMC.
func (k Kind) String() string {
	switch k {
	case SDSC:
		return "SDSC"
	case SDHC:
		return "SDHC"
	case MMC:
		return "eMMC"
	}
	return "unknown"
}

// Options tune New. The zero value is the default.
type Options struct {
	// MaxClock caps the bus clock in Hz (0: the host's and card's best).
	MaxClock uint32
	// Width1 keeps the bus at one data line.
	Width1 bool
	// NoHighSpeed keeps default-speed timing (25 MHz SD, 26 MHz eMMC).
	NoHighSpeed bool
	// NoCMD23 ends multiple-block transfers with CMD12 even where the
	// card supports SET_BLOCK_COUNT.
	NoCMD23 bool
	// NoCache leaves an eMMC's volatile cache off.
	NoCache bool
	// Timeout, when set, replaces the data timeouts the card's
	// registers give (see Timeouts) for every data command.
	Timeout time.Duration
	// ReadOnly makes the device read-only whatever the card says.
	ReadOnly bool
}

// Timeouts from the specifications.
const (
	cmdTimeout      = 100 * time.Millisecond // a command without data (response in 64 clocks)
	initTimeout     = time.Second            // ACMD41 / CMD1 power-up (SD §4.2.3: 1 s)
	regTimeout      = time.Second            // register reads (SCR, switch status, EXT_CSD)
	busyTimeout     = 2 * time.Second        // busy after R1b, programming after a write
	flushTimeout    = 30 * time.Second       // eMMC FLUSH_CACHE (JESD84-B51 gives no bound)
	perBlockTime    = 500 * time.Microsecond // data commands: a 1 MiB/s floor on top of Timeout
	eraseBaseTime   = time.Second            // erase: fixed part
	erasePerAUTime  = 250 * time.Millisecond // erase: SD §4.14 fallback, per 4 MiB
	identClock      = 400_000                // identification mode, ≤ 400 kHz
	identRetries    = 3
	sdDefaultClock  = 25_000_000
	sdHighClock     = 50_000_000
	mmcDefaultClock = 26_000_000
	mmcHighClock    = 52_000_000
)

// Card is an identified SD card or eMMC: a block.Device with 512-byte
// sectors. It implements block.Flusher, block.Discarder,
// block.BufferAllocator and block.BufferFreer, and is safe for concurrent
// use (one command at a time on the bus).
type Card struct {
	host Host
	opts Options
	caps Caps

	kind      Kind
	rca       uint32
	blockAddr bool // data addresses are sectors, not bytes
	cid       CID
	csd       CSD
	scr       SCR
	ext       ExtCSD
	info      block.Info
	ios       IOS
	cmd23     bool
	cache     bool  // eMMC volatile cache enabled
	eraseU    int64 // erase unit in sectors (1: any block range)
	trim      bool  // eMMC TRIM
	wpWhy     string
	to        Timeouts
	sdErase   sdEraseInfo
	ladder    string // the bus setting that held, for the console
	rawCID    reg128

	stats Stats

	mu     sync.Mutex
	cmd    Command // reused for every command (no allocation per request)
	stop   Command
	data   Data
	bufs   [][]byte // scratch for one command's part of a request
	err    error    // sticky: the card stopped answering, or its DMA would not stop
	gone   bool     // err is the card not answering: Reidentify may bring it back
	closed bool
}

// Stats counts what went wrong and what the driver did about it.
type Stats struct {
	Retries       int64 // reads and writes retried after a data CRC error or data timeout
	RetryFailures int64 // retries that failed too (the request failed with ErrIO)
	StatusErrors  int64 // requests failed by error bits in the card status
	Gone          int64 // times the card stopped answering
}

// Stats reports the counters.
func (c *Card) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// ErrGone: the card stopped answering commands. Later calls fail at once
// until Reidentify finds it again.
var ErrGone = errors.New("sdmmc: card stopped answering")

// New identifies the card on host and makes it ready for I/O.
func New(host Host, opts Options) (*Card, error) {
	c := &Card{host: host, opts: opts, caps: host.Caps()}
	if c.caps.MaxBlocks <= 0 {
		c.caps.MaxBlocks = 1
	}
	if !host.CardPresent() {
		return nil, fmt.Errorf("sdmmc: %w", ErrNoCard)
	}
	// A corrupted response during identification leaves the card in an
	// unknown state: start again from CMD0.
	if err := c.identifyRetried(); err != nil {
		return nil, err
	}
	return c, nil
}

// identifyRetried identifies the card, starting again from CMD0 after a
// corrupted response, then walks down the bus ladder until a test read
// holds.
func (c *Card) identifyRetried() error {
	var err error
	for try := 0; try < identRetries; try++ {
		if err = c.identify(); err == nil || !errors.Is(err, ErrCRC) {
			break
		}
	}
	if err != nil {
		return err
	}
	return c.settle()
}

// Reidentify identifies the card again after it stopped answering (a
// microSD pulled and put back): on success the device works again, with
// the same geometry or it refuses (a different card). A card that
// answers needs nothing and is left alone.
func (c *Card) Reidentify() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrGone
	}
	if !c.gone {
		return nil
	}
	old := c.info
	nc := &Card{host: c.host, opts: c.opts, caps: c.caps}
	if err := nc.identifyRetried(); err != nil {
		return err
	}
	if nc.info.Sectors != old.Sectors {
		return fmt.Errorf("sdmmc: a different card (%d sectors, was %d)", nc.info.Sectors, old.Sectors)
	}
	stats := c.stats
	c.kind, c.rca, c.blockAddr, c.cid, c.csd, c.scr, c.ext = nc.kind, nc.rca, nc.blockAddr, nc.cid, nc.csd, nc.scr, nc.ext
	c.info, c.ios, c.cmd23, c.cache, c.eraseU, c.trim = nc.info, nc.ios, nc.cmd23, nc.cache, nc.eraseU, nc.trim
	c.wpWhy, c.to, c.sdErase, c.ladder, c.rawCID, c.bufs = nc.wpWhy, nc.to, nc.sdErase, nc.ladder, nc.rawCID, nc.bufs
	c.stats = stats
	c.err, c.gone = nil, false
	return nil
}

// Gone reports whether the card stopped answering (Reidentify may bring
// it back).
func (c *Card) Gone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone
}

// Kind reports the card family and capacity class.
func (c *Card) Kind() Kind { return c.kind }

// CID reports the card's identification.
func (c *Card) CID() CID { return c.cid }

// CSD reports the decoded card-specific data.
func (c *Card) CSD() CSD { return c.csd }

// Bus reports the bus setting in use.
func (c *Card) Bus() IOS { return c.ios }

// String describes the card in one line for logs and the shell.
func (c *Card) String() string {
	ro := ""
	if !c.info.ReadWrite {
		ro = " ro(" + c.wpWhy + ")"
	}
	return fmt.Sprintf("%s %q mid=%#02x sectors=%d clock=%d width=%d hs=%t cmd23=%t cache=%t trim=%t cid=%s%s",
		c.kind, c.cid.Product, c.cid.Manufacturer, c.info.Sectors, c.ios.Clock, c.ios.Width,
		c.ios.HighSpeed, c.cmd23, c.cache, c.trim, c.CIDHex(), ro)
}

// CIDHex is the raw CID register as 32 hex digits (bits 127:0, the CRC
// byte as zero), as Linux's sysfs cid file shows it.
func (c *Card) CIDHex() string {
	return fmt.Sprintf("%08x%08x%08x%08x", c.rawCID[0], c.rawCID[1], c.rawCID[2], c.rawCID[3])
}

// Ladder says which bus setting held (see settle), for the console.
func (c *Card) Ladder() string { return c.ladder }

// command sends one command without data. A response that fails its CRC
// is re-requested only for SEND_STATUS, which changes nothing in the
// card; any other command may have taken effect (CMD2 moves the card to
// the ident state, and a second CMD2 goes unanswered), so its caller
// starts over.
func (c *Card) command(index uint8, arg uint32, rt ResponseType) (uint32, error) {
	timeout := cmdTimeout
	if rt == RespR1b {
		timeout = busyTimeout
	}
	return c.commandT(index, arg, rt, timeout)
}

// commandT is command with a timeout for the response and, after R1b, the
// busy phase.
func (c *Card) commandT(index uint8, arg uint32, rt ResponseType, timeout time.Duration) (uint32, error) {
	var err error
	for try := 0; try < 3; try++ {
		c.cmd = Command{Index: index, Arg: arg, Response: rt}
		if err = c.host.Request(&c.cmd, timeout); err == nil {
			return c.cmd.Resp[0], nil
		}
		if index != cmdSendStatus || !errors.Is(err, ErrCRC) {
			break
		}
	}
	return 0, fmt.Errorf("sdmmc: CMD%d: %w", index, err)
}

// r1 sends a command with an R1/R1b response and checks the card status.
func (c *Card) r1(index uint8, arg uint32, rt ResponseType) (uint32, error) {
	timeout := cmdTimeout
	if rt == RespR1b {
		timeout = busyTimeout
	}
	return c.r1T(index, arg, rt, timeout)
}

// r1T is r1 with a timeout.
func (c *Card) r1T(index uint8, arg uint32, rt ResponseType, timeout time.Duration) (uint32, error) {
	st, err := c.commandT(index, arg, rt, timeout)
	if err != nil {
		return st, err
	}
	if st&statusErrors != 0 {
		return st, &StatusError{Cmd: index, Status: st}
	}
	return st, nil
}

// appCommand sends CMD55 then the application command.
func (c *Card) appCommand(index uint8, arg uint32, rt ResponseType) (uint32, error) {
	st, err := c.command(cmdAppCmd, c.rca<<16, RespR1)
	if err != nil {
		return 0, err
	}
	if st&statusAppCmd == 0 {
		return 0, fmt.Errorf("sdmmc: ACMD%d: card did not accept APP_CMD (status %#08x)", index, st)
	}
	return c.command(index, arg, rt)
}

// StatusError is a command the card answered with error bits in its
// status.
type StatusError struct {
	Cmd    uint8  // the command's index
	Status uint32 // the card status it answered with
}

// Error names the command and the status bits set.
func (e *StatusError) Error() string {
	return fmt.Sprintf("sdmmc: CMD%d: card status %#08x (%s)", e.Cmd, e.Status, statusText(e.Status))
}

func statusText(st uint32) string {
	names := []struct {
		bit  uint32
		name string
	}{
		{statusOutOfRange, "OUT_OF_RANGE"}, {statusAddressError, "ADDRESS_ERROR"},
		{statusBlockLenError, "BLOCK_LEN_ERROR"}, {statusEraseSeqError, "ERASE_SEQ_ERROR"},
		{statusEraseParam, "ERASE_PARAM"}, {statusWPViolation, "WP_VIOLATION"},
		{statusCardIsLocked, "CARD_IS_LOCKED"}, {statusLockUnlockFail, "LOCK_UNLOCK_FAILED"},
		{statusComCRCError, "COM_CRC_ERROR"}, {statusIllegalCommand, "ILLEGAL_COMMAND"},
		{statusCardECCFailed, "CARD_ECC_FAILED"}, {statusCCError, "CC_ERROR"},
		{statusError, "ERROR"}, {statusCSDOverwrite, "CSD_OVERWRITE"},
		{statusWPEraseSkip, "WP_ERASE_SKIP"}, {statusSwitchError, "SWITCH_ERROR"},
	}
	s := ""
	for _, n := range names {
		if st&n.bit != 0 {
			if s != "" {
				s += "|"
			}
			s += n.name
		}
	}
	return fmt.Sprintf("%s state=%d", s, st>>statusStateShift&statusStateMask)
}

// waitReady polls SEND_STATUS until the card is in the transfer state and
// ready for data (programming done), or the timeout passes.
func (c *Card) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for spin := 0; ; spin++ {
		st, err := c.command(cmdSendStatus, c.rca<<16, RespR1)
		if err != nil {
			return err
		}
		if st&(statusErrors|statusSwitchError) != 0 {
			return &StatusError{Cmd: cmdSendStatus, Status: st}
		}
		state := st >> statusStateShift & statusStateMask
		if st&statusReadyForData != 0 && state == stateTran {
			return nil
		}
		if state != statePrg && state != stateRcv && state != stateData && state != stateTran {
			return fmt.Errorf("sdmmc: card in state %d, want tran: %w", state, ErrHost)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sdmmc: card busy (state %d) after %v: %w", state, timeout, ErrTimeout)
		}
		if spin > 16 {
			time.Sleep(50 * time.Microsecond)
		}
	}
}
