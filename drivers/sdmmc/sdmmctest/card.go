// Package sdmmctest is an in-process SD card and eMMC model that speaks the
// command protocol of the SD Physical Layer Simplified Specification and
// JESD84-B51: card identification, CSD/CID/SCR/EXT_CSD, block reads and
// writes, erase and TRIM, the card states and status bits. A host
// controller model (drivers/usdhc/usdhctest) drives it through Command,
// ReadData and WriteData, as a controller drives a card's CMD and DAT
// lines. It is for host tests, fuzzing and benchmarks.
//
// Faults make the cards the driver must survive: one that stops answering
// (Fault.NoResponse), one whose data never comes (Fault.DataTimeout), one
// whose data or responses fail their CRC, one stuck busy programming, and
// cards write-protected through their CSD (Config.PermWP, Config.TmpWP).
//
// Its storage is sparse, so a 64 GiB SDXC or a 4 GiB eMMC costs only the
// chunks written.
package sdmmctest

import (
	"errors"
	"fmt"
	"sync"
)

// Kind is the card a model plays.
type Kind uint8

const (
	SDv1 Kind = iota + 1 // SD 1.x standard capacity: no CMD8, CSD 1.0, byte addresses
	SDSC                 // SD 2.0+ standard capacity: CMD8, OCR CCS clear, CSD 1.0
	SDHC                 // SD 2.0+ high capacity: OCR CCS set, CSD 2.0, block addresses
	EMMC                 // eMMC 5.1: CMD1, EXT_CSD; sector mode above 2 GiB
)

// String names the kind.
func (k Kind) String() string {
	return [...]string{"?", "SDv1", "SDSC", "SDHC", "eMMC"}[min(int(k), 4)]
}

// Config describes a card.
type Config struct {
	Kind Kind // which card to play
	// Size in bytes. SD standard capacity: at most 2 GiB and a multiple
	// of 2^(READ_BL_LEN+2+C_SIZE_MULT) that CSD 1.0 can encode; SDHC: a
	// multiple of 512 KiB; eMMC: a multiple of 512.
	Size int64
	// ReadBlLen is CSD 1.0's READ_BL_LEN (9, 10 or 11; 0 picks the
	// smallest that encodes Size).
	ReadBlLen uint8
	PermWP    bool  // CSD PERM_WRITE_PROTECT
	TmpWP     bool  // CSD TMP_WRITE_PROTECT
	CMD23     bool  // SD: SCR CMD_SUPPORT has SET_BLOCK_COUNT (eMMC always has it)
	NoWide    bool  // SD: SCR has no 4-bit bus; eMMC: no 4/8-bit
	HighSpeed bool  // SD: CMD6 High Speed; eMMC: CARD_TYPE HS52
	Cache     int64 // eMMC: volatile cache bytes (EXT_CSD CACHE_SIZE)
	Trim      bool  // eMMC: SEC_GB_CL_EN
	// PowerUpPolls is how many ACMD41/CMD1 answers stay busy.
	PowerUpPolls int
	// BusyPolls is how many SEND_STATUS answers a write stays in prg.
	BusyPolls int
	// EraseOnes makes erased blocks read 0xff (SCR DATA_STAT_AFTER_ERASE).
	EraseOnes bool
	// LieCSDVersion makes the card send the other CSD structure than
	// its capacity class has (a broken or counterfeit card).
	LieCSDVersion bool
	// AnswersCMD55 (eMMC): answer CMD55 with an R1 without APP_CMD, as
	// some devices do, instead of ignoring it.
	AnswersCMD55 bool
	// PartitionAccess (eMMC): PARTITION_CONFIG's access bits at power
	// up, kept across CMD0 (a boot partition left selected); data
	// commands then reach that partition, not the user area.
	PartitionAccess uint8
	// Manufacturer and Product override the CID's MID and PNM.
	Manufacturer uint8
	Product      string
}

// Fault makes the card misbehave.
type Fault struct {
	NoResponse   bool // the card answers no command at all
	DataTimeout  bool // commands are answered, data never comes
	DataCRCEvery int  // every Nth data block fails its CRC (read: bad data; write: CRC status error, block not written)
	CmdCRCEvery  int  // every Nth response fails its CRC
	CmdCRCAt     int  // the Nth response from now fails its CRC, once
	StuckBusy    bool // after a write the card stays in prg, and DAT0 stays low after R1b
	// StopError is status bits the card sets in its next
	// STOP_TRANSMISSION response (e.g. an error found while
	// programming or reading the blocks before it), once.
	StopError uint32
	// ECC makes reads of ECCSector (512-byte units from the start of
	// the card) fail their ECC: the data comes with a good CRC, and
	// CARD_ECC_FAILED is in the next status (SD Table 4-42, type "E X").
	ECC       bool
	ECCSector int64
	// DataCRCOnce / DataTimeoutOnce: the next data block fails its CRC,
	// or never comes, once (a transient glitch).
	DataCRCOnce     bool
	DataTimeoutOnce bool
}

// Response is a card's answer on the CMD line.
type Response struct {
	Long bool      // 136 bits (R2)
	R    [4]uint32 // as sdmmc.Command.Resp: R[0] is bits 39:8, or for R2 bits 127:96
	CRC  bool      // the response's CRC is wrong
}

// Errors of the data lines.
var (
	ErrDataTimeout = errors.New("sdmmctest: no data from the card")
	ErrDataCRC     = errors.New("sdmmctest: data CRC error")
	ErrNotData     = errors.New("sdmmctest: card not in a data transfer")
)

const (
	stIdle, stReady, stIdent, stStby, stTran, stData, stRcv, stPrg = 0, 1, 2, 3, 4, 5, 6, 7

	chunk = 64 << 10
)

// transfer is the data phase in progress.
type transfer struct {
	write bool
	addr  int64  // byte offset of the next block
	left  int    // blocks left; -1 until CMD12
	reg   []byte // register data instead of the disk, or nil
	base  int64  // storage offset of the selected partition
}

// Card is a card model. Its methods are safe for concurrent use.
type Card struct {
	cfg Config

	mu        sync.Mutex
	fault     Fault
	state     int
	rca       uint32
	app       bool
	ocrReady  bool
	polls     int
	status    uint32 // error bits for the next status
	blockLen  int
	wide      bool
	hs        bool
	blockCnt  int // CMD23 count for the next 18/25, 0 for none
	xfer      transfer
	busy      int
	eraseFrom int64
	eraseTo   int64
	ext       [512]byte
	csd, cid  [4]uint32
	scr       [8]byte
	data      map[int64][]byte
	blocks    int // data blocks moved (for fault counting)
	responses int

	resets   int
	commands [64]int // per command index
	erases   int
	flushes  int
}

// Commands reports how many times CMDindex (or ACMDindex) was sent.
func (c *Card) Commands(index uint8) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commands[index&63]
}

// Erases reports how many erase or TRIM operations the card ran.
func (c *Card) Erases() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.erases
}

// Flushes reports how many eMMC cache flushes the card ran.
func (c *Card) Flushes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushes
}

// New returns a card in the idle state.
func New(cfg Config) (*Card, error) {
	c := &Card{cfg: cfg, data: make(map[int64][]byte), blockLen: 512, eraseFrom: -1, eraseTo: -1}
	if cfg.Size <= 0 || cfg.Size%512 != 0 {
		return nil, fmt.Errorf("sdmmctest: size %d", cfg.Size)
	}
	switch cfg.Kind {
	case SDv1, SDSC:
		if err := c.csdV1(); err != nil {
			return nil, err
		}
	case SDHC:
		if cfg.Size%(512<<10) != 0 || cfg.Size > (1<<22)*(512<<10) {
			return nil, fmt.Errorf("sdmmctest: SDHC size %d is not a multiple of 512 KiB up to 2 TiB", cfg.Size)
		}
		c.setCSD(127, 126, 1)
		c.setCSD(103, 96, 0x32) // TRAN_SPEED 25 MHz
		c.setCSD(95, 84, 0x5b5) // CCC incl. class 10 (switch)
		c.setCSD(83, 80, 9)
		c.setCSD(69, 48, uint32(cfg.Size/(512<<10)-1))
		c.setCSD(46, 46, 1)
		c.setCSD(45, 39, 0x7f)
		c.setCSD(25, 22, 9)
	case EMMC:
		c.emmcRegisters()
	default:
		return nil, fmt.Errorf("sdmmctest: kind %d", cfg.Kind)
	}
	if cfg.LieCSDVersion {
		c.setCSD(127, 126, c.csd[0]>>30^1)
	}
	if cfg.PermWP {
		c.setCSD(13, 13, 1)
	}
	if cfg.TmpWP {
		c.setCSD(12, 12, 1)
	}
	// CID: manufacturer 0x5a, product name, serial.
	mid := uint32(0x5a)
	if cfg.Manufacturer != 0 {
		mid = uint32(cfg.Manufacturer)
	}
	c.setCID(127, 120, mid)
	name := "TSWAP"
	if cfg.Kind == EMMC {
		name = "TSWAPE"
		if cfg.Product != "" {
			name = (cfg.Product + "      ")[:6]
		}
		for i := 0; i < 6; i++ {
			hi := uint(103 - 8*i)
			c.setCID(hi, hi-7, uint32(name[i]))
		}
		c.setCID(47, 16, 0x1234abcd)
	} else {
		for i := 0; i < 5; i++ {
			hi := uint(103 - 8*i)
			c.setCID(hi, hi-7, uint32(name[i]))
		}
		c.setCID(55, 24, 0x1234abcd)
	}
	// SCR: SCR_STRUCTURE 0, SD_SPEC 2 (3.0x with SD_SPEC3), 1- and 4-bit.
	scr := uint64(2)<<56 | uint64(1)<<47 | uint64(1)<<48
	if !cfg.NoWide {
		scr |= 1 << 50
	}
	if cfg.EraseOnes {
		scr |= 1 << 55
	}
	if cfg.CMD23 {
		scr |= 1 << 33
	}
	for i := 0; i < 8; i++ {
		c.scr[i] = byte(scr >> (56 - 8*i))
	}
	return c, nil
}

// csdV1 encodes Size in CSD 1.0 (SD §5.3.2).
func (c *Card) csdV1() error {
	if c.cfg.Size > 2<<30 {
		return fmt.Errorf("sdmmctest: standard capacity card of %d bytes (over 2 GiB)", c.cfg.Size)
	}
	for bl := max(c.cfg.ReadBlLen, 9); bl <= 11; bl++ {
		for mult := uint(0); mult <= 7; mult++ {
			unit := int64(1) << (mult + 2 + uint(bl))
			if c.cfg.Size%unit != 0 || c.cfg.Size/unit > 4096 {
				continue
			}
			c.setCSD(127, 126, 0)
			c.setCSD(103, 96, 0x32)
			c.setCSD(95, 84, 0x5b5)
			c.setCSD(83, 80, uint32(bl))
			c.setCSD(73, 62, uint32(c.cfg.Size/unit-1))
			c.setCSD(49, 47, uint32(mult))
			c.setCSD(46, 46, 1)
			c.setCSD(45, 39, 0x1f)
			c.setCSD(25, 22, uint32(bl))
			return nil
		}
	}
	return fmt.Errorf("sdmmctest: size %d has no CSD 1.0 encoding", c.cfg.Size)
}

func (c *Card) emmcRegisters() {
	c.setCSD(127, 126, 3)
	c.setCSD(125, 122, 4) // SPEC_VERS 4.x+
	c.setCSD(103, 96, 0x32)
	c.setCSD(95, 84, 0x8f5)
	c.setCSD(83, 80, 9)
	c.setCSD(46, 42, 31) // ERASE_GRP_SIZE: 32 write blocks...
	c.setCSD(41, 37, 31) // ... times ERASE_GRP_MULT 32: 512 KiB
	if c.cfg.Size > 2<<30 {
		c.setCSD(73, 62, 0xfff)
	} else {
		// C_SIZE in units of 2^(7+2) blocks of 2^READ_BL_LEN bytes.
		bl := uint(9)
		for c.cfg.Size>>(bl+9) > 4095 { // C_SIZE 0xfff means "see EXT_CSD"
			bl++
		}
		c.setCSD(83, 80, uint32(bl))
		c.setCSD(73, 62, uint32(c.cfg.Size>>(bl+9)-1))
		c.setCSD(49, 47, 7)
	}
	e := &c.ext
	e[192] = 8 // EXT_CSD_REV 1.8 (eMMC 5.1)
	sec := uint32(c.cfg.Size / 512)
	e[212], e[213], e[214], e[215] = byte(sec), byte(sec>>8), byte(sec>>16), byte(sec>>24)
	e[196] = 0x01 // HS26
	if c.cfg.HighSpeed {
		e[196] |= 0x02
	}
	e[224] = 1 // HC_ERASE_GRP_SIZE 512 KiB
	e[223] = 1 // ERASE_TIMEOUT_MULT 300 ms
	e[232] = 1 // TRIM_MULT 300 ms
	e[248] = 10
	e[179] = c.cfg.PartitionAccess & 7
	if c.cfg.Trim {
		e[231] = 1 << 4
	}
	cs := uint32(c.cfg.Cache / 1024)
	e[249], e[250], e[251], e[252] = byte(cs), byte(cs>>8), byte(cs>>16), byte(cs>>24)
}

func setBits(r *[4]uint32, hi, lo uint, v uint32) {
	for i := lo; i <= hi; i++ {
		w := &r[3-i/32]
		bit := uint32(1) << (i % 32)
		if v>>(i-lo)&1 == 1 {
			*w |= bit
		} else {
			*w &^= bit
		}
	}
}

func (c *Card) setCSD(hi, lo uint, v uint32) { setBits(&c.csd, hi, lo, v) }
func (c *Card) setCID(hi, lo uint, v uint32) { setBits(&c.cid, hi, lo, v) }

// SetFault changes how the card misbehaves.
func (c *Card) SetFault(f Fault) {
	c.mu.Lock()
	c.fault, c.responses = f, 0
	c.mu.Unlock()
}

// HardwareReset is the eMMC's RST_n pulsed low (JESD84-B51 §6.15.10,
// with RST_n_FUNCTION enabled): the device goes back to idle, forgets its
// address and bus settings. An SD card has no such pin.
func (c *Card) HardwareReset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.emmc() {
		return
	}
	c.resets++
	c.goIdle()
}

// HardwareResets reports how many times the eMMC was reset by RST_n.
func (c *Card) HardwareResets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resets
}

// StuckBusy reports whether the card holds DAT0 busy for ever.
func (c *Card) StuckBusy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fault.StuckBusy
}

// Config returns the card's configuration.
func (c *Card) Config() Config { return c.cfg }

// State returns the card's current state (CURRENT_STATE).
func (c *Card) State() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// BlockAddressed reports whether data addresses are blocks.
func (c *Card) BlockAddressed() bool {
	return c.cfg.Kind == SDHC || (c.cfg.Kind == EMMC && c.cfg.Size > 2<<30)
}
