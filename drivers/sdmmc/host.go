package sdmmc

import (
	"errors"
	"fmt"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// ResponseType is the response a command expects (SD Physical Layer
// Simplified Specification §4.9; JESD84-B51 §6.12). It tells the host how
// long the response is, whether to check its CRC and command index, and
// whether the card signals busy on DAT0 after it.
type ResponseType uint8

const (
	RespNone ResponseType = iota // no response (CMD0)
	RespR1                       // normal response: card status
	RespR1b                      // R1, then busy on DAT0
	RespR2                       // 136 bits: CID or CSD; CRC, no index
	RespR3                       // OCR; neither CRC nor index
	RespR6                       // published RCA (SD CMD3)
	RespR7                       // card interface condition (SD CMD8)
)

// Command is one command on the CMD line, with the data it moves.
type Command struct {
	Index    uint8        // command index (CMDn)
	Arg      uint32       // command argument
	Response ResponseType // the response it expects
	// Resp is the response once Request returns nil. For 48-bit
	// responses Resp[0] is its bits 39:8 (the card status, OCR, RCA or
	// R7 fields). For R2, Resp[0] holds bits 127:96 of the register,
	// Resp[1] 95:64, Resp[2] 63:32 and Resp[3] 31:0, with bits 7:0 (CRC
	// and end bit, which the host strips) zero.
	Resp [4]uint32
	// Data, when not nil, is the data phase on the DAT lines.
	Data *Data
}

// Data is the data phase of a command.
type Data struct {
	BlockSize int  // bytes per block: 512, or 8 (SCR), 64 (switch status)
	Blocks    int  // number of blocks, at least 1
	Write     bool // host to card
	// Bufs hold BlockSize*Blocks bytes in all, back to back. The host
	// reads or writes them only between Request's start and its return
	// (or, after a failure the host reports with ErrBuffersHeld, until
	// the host is reset).
	Bufs [][]byte
	// AutoCMD12 asks the host to send STOP_TRANSMISSION after the last
	// block (multiple-block commands when Caps.AutoCMD12).
	AutoCMD12 bool
	// StopResp is the auto CMD12's response (its card status) once
	// Request returns nil for a command with AutoCMD12 and more than
	// one block; the card reports errors found during the transfer
	// (OUT_OF_RANGE, CARD_ECC_FAILED, CC_ERROR, ERROR) there.
	StopResp uint32
}

// Bytes returns the length of the data phase.
func (d *Data) Bytes() int { return d.BlockSize * d.Blocks }

// BusWidth is the number of DAT lines.
type BusWidth uint8

const (
	Width1 BusWidth = 1 // DAT0 only (identification, and the default)
	Width4 BusWidth = 4 // DAT0-3 (SD, eMMC)
	Width8 BusWidth = 8 // DAT0-7 (eMMC)
)

// IOS is the bus setting the host drives.
type IOS struct {
	Clock     uint32   // SD clock in Hz; 0 stops it
	Width     BusWidth // DAT lines
	HighSpeed bool     // SD High Speed / eMMC HS timing (outputs on the rising edge)
}

// Caps is what a host controller can do.
type Caps struct {
	MaxClock   uint32     // highest SD clock it can make, Hz
	Widths     []BusWidth // the bus widths the slot is wired for
	HighSpeed  bool       // it can clock the bus at 50 MHz (SD) / 52 MHz (eMMC)
	MaxBlocks  int        // blocks per data command (the block count register's range)
	MaxBlkSize int        // largest block size
	AutoCMD12  bool       // Data.AutoCMD12 works
	// OCR is the voltage window the host supplies (OCR bits 23:8), 0 for
	// 2.7–3.6 V.
	OCR uint32
}

// Host is an SD/MMC host controller: what the protocol needs from it.
// Calls are never concurrent (the card serialises them).
type Host interface {
	// Caps reports what the host can do; it does not change.
	Caps() Caps
	// SetIOS sets clock, bus width and timing.
	SetIOS(ios IOS) error
	// Request sends cmd, waits for its response and, when cmd.Data is
	// set, for the whole data phase (and AutoCMD12), and for busy after
	// R1b, each wait bounded by timeout. Its errors wrap ErrTimeout,
	// ErrCRC, ErrIndex, ErrEndBit, ErrDMA, ErrNoCard or ErrBuffersHeld.
	// After a failure the host has reset its command and data circuits.
	Request(cmd *Command, timeout time.Duration) error
	// Fit returns how many blocks, from the start of bufs, one data
	// command can move (at least 1 when bufs hold a block, at most
	// Caps.MaxBlocks): the host's limits on descriptors and bounce
	// memory, which depend on the buffers.
	Fit(bufs [][]byte, blockSize int, write bool) int
	// CardPresent reports the card-detect signal.
	CardPresent() bool
	// WriteProtected reports the write-protect switch (the slot's WP
	// pin); a protected card is read-only.
	WriteProtected() bool
}

// Errors a Host reports (wrapped with detail). The card layer maps them to
// block.ErrIO, or block.ErrBuffersHeld for ErrBuffersHeld.
var (
	ErrTimeout  = errors.New("sdmmc: timeout")
	ErrCRC      = errors.New("sdmmc: CRC error")
	ErrIndex    = errors.New("sdmmc: response command index mismatch")
	ErrEndBit   = errors.New("sdmmc: end bit error")
	ErrDMA      = errors.New("sdmmc: DMA error")
	ErrNoCard   = errors.New("sdmmc: no card")
	ErrHost     = errors.New("sdmmc: host controller error")
	ErrBadParam = errors.New("sdmmc: request the host cannot carry")
	// ErrBuffersHeld: the request failed and the host could not stop
	// its DMA engine; the buffers may still be read or written. It
	// matches block.ErrBuffersHeld, whose contract callers follow.
	ErrBuffersHeld = fmt.Errorf("sdmmc: request failed with DMA still running: %w", block.ErrBuffersHeld)
)
