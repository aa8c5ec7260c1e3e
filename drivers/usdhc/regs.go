package usdhc

// uSDHC registers (i.MX 6UL/6ULL Applications Processor Reference Manual,
// chapter "Ultra Secured Digital Host Controller (uSDHC)", memory map),
// named as there and as in TamaGo's soc/nxp/usdhc.
const (
	USDHCx_DS_ADDR              = 0x00 // DMA system address (CMD23 argument with ADMA)
	USDHCx_BLK_ATT              = 0x04 // block attributes
	USDHCx_CMD_ARG              = 0x08 // command argument
	USDHCx_CMD_XFR_TYP          = 0x0c // command transfer type
	USDHCx_CMD_RSP0             = 0x10 // command response 0..3
	USDHCx_CMD_RSP1             = 0x14
	USDHCx_CMD_RSP2             = 0x18
	USDHCx_CMD_RSP3             = 0x1c
	USDHCx_DATA_BUFF_ACC_PORT   = 0x20
	USDHCx_PRES_STATE           = 0x24 // present state
	USDHCx_PROT_CTRL            = 0x28 // protocol control
	USDHCx_SYS_CTRL             = 0x2c // system control
	USDHCx_INT_STATUS           = 0x30 // interrupt status (write 1 to clear)
	USDHCx_INT_STATUS_EN        = 0x34 // interrupt status enable
	USDHCx_INT_SIGNAL_EN        = 0x38 // interrupt signal enable
	USDHCx_AUTOCMD12_ERR_STATUS = 0x3c
	USDHCx_HOST_CTRL_CAP        = 0x40 // host controller capabilities
	USDHCx_WTMK_LVL             = 0x44 // watermark level
	USDHCx_MIX_CTRL             = 0x48 // mixer control (the transfer mode)
	USDHCx_FORCE_EVENT          = 0x50
	USDHCx_ADMA_ERR_STATUS      = 0x54
	USDHCx_ADMA_SYS_ADDR        = 0x58
	USDHCx_DLL_CTRL             = 0x60 // delay line control
	// USDHCx_ERR004536 is the undocumented register at 0x6c whose bit 7
	// disables the fix-up for erratum ERR004536 ("ADMA Length Mismatch
	// Error occurs if the AHB read access is slow"); Linux's
	// sdhci-esdhc-imx.c (sdhci_esdhc_imx_hwinit) clears it on every
	// uSDHC, since on parts without the erratum the bit has no meaning.
	USDHCx_ERR004536 = 0x6c
	USDHCx_VEND_SPEC = 0xc0
)

// BLK_ATT fields.
const (
	BLK_ATT_BLKCNT  = 16 // 31:16 block count
	BLK_ATT_BLKSIZE = 0  // 12:0 block size
)

// CMD_XFR_TYP fields. Its bits 15:0 are reserved: the transfer mode is
// MIX_CTRL, written before each command, never carried over.
const (
	CMD_XFR_TYP_CMDINX = 24 // 29:24 command index
	CMD_XFR_TYP_CMDTYP = 22 // 23:22 command type (3: abort)
	CMD_XFR_TYP_DPSEL  = 21 // data present
	CMD_XFR_TYP_CICEN  = 20 // command index check
	CMD_XFR_TYP_CCCEN  = 19 // command CRC check
	CMD_XFR_TYP_RSPTYP = 16 // 17:16 response length

	cmdTypeAbort = 3
	rspNone      = 0
	rsp136       = 1
	rsp48        = 2
	rsp48Busy    = 3
)

// PRES_STATE bits.
const (
	PRES_STATE_CIHB  = 0  // command inhibit (CMD)
	PRES_STATE_CDIHB = 1  // command inhibit (DATA)
	PRES_STATE_DLA   = 2  // data line active
	PRES_STATE_SDSTB = 3  // SD clock stable
	PRES_STATE_CINST = 16 // card inserted
	PRES_STATE_WPSPL = 19 // write-protect switch pin level: 1 = write enabled
	PRES_STATE_DLSL0 = 24 // DAT0 line level: low while the card signals busy
)

// PROT_CTRL fields.
const (
	PROT_CTRL_DTW    = 1 // 2:1 data transfer width: 0 1-bit, 1 4-bit, 2 8-bit
	PROT_CTRL_D3CD   = 3
	PROT_CTRL_EMODE  = 4 // 5:4 endian mode: 2 little endian
	PROT_CTRL_CDTL   = 6
	PROT_CTRL_CDSS   = 7
	PROT_CTRL_DMASEL = 8 // 9:8 DMA select: 0 simple, 1 ADMA1, 2 ADMA2
	// PROT_CTRL_BURST_LEN_EN_INCR lets the AHB2AXI bridge see INCR
	// bursts (bit 27 of BURST_LEN_EN); the boot ROM clears it when it
	// boots from this controller, which turns every AHB INCR transfer
	// into singles (Linux sdhci-esdhc-imx.c, ESDHC_BURST_LEN_EN_INCR).
	PROT_CTRL_BURST_LEN_EN_INCR = 27

	dmaSelADMA2  = 2
	emodeLittle  = 2
	protCtrlMask = 3<<PROT_CTRL_DTW | 1<<PROT_CTRL_D3CD | 3<<PROT_CTRL_EMODE |
		1<<PROT_CTRL_CDTL | 1<<PROT_CTRL_CDSS | 3<<PROT_CTRL_DMASEL
)

// VEND_SPEC bits (IMX6ULLRM 58.8.26). RSTA does not reset this register:
// whatever the boot ROM, U-Boot or an earlier program left survives.
const (
	VEND_SPEC_VSELECT      = 1  // I/O voltage select: 1 = 1.8 V
	VEND_SPEC_FRC_SDCLK_ON = 8  // force the card clock on
	VEND_SPEC_CRC_CHK_DIS  = 15 // do not check the CRC of read data
)

// SYS_CTRL fields.
const (
	SYS_CTRL_RSTT  = 28
	SYS_CTRL_INITA = 27 // send 80 initialization clocks
	SYS_CTRL_RSTD  = 26 // reset the data circuit (and DMA)
	SYS_CTRL_RSTC  = 25 // reset the command circuit
	SYS_CTRL_RSTA  = 24 // reset all
	// SYS_CTRL_IPP_RST_N drives the card's hardware reset line (eMMC
	// RST_n), active low; it reads 1 after reset (0x0080800F). Every
	// write of SYS_CTRL keeps it high.
	SYS_CTRL_IPP_RST_N = 23
	SYS_CTRL_DTOCV     = 16 // 19:16 data timeout counter value
	SYS_CTRL_SDCLKFS   = 8  // 15:8 SD clock prescaler
	SYS_CTRL_DVS       = 4  // 7:4 divisor

	// Bits 3:0 read as 1 after reset (reset value 0x0080800F) and keep
	// the clocks on. QEMU's model clears them on reset and then neither
	// reports SDSTB nor issues commands until they are set again, so
	// every SYS_CTRL write sets them.
	sysCtrlClocksOn = 0xf
	dtocvMax        = 0xf // SDCLK x 2^29 (largest data timeout)
)

// INT_STATUS, INT_STATUS_EN and INT_SIGNAL_EN bits.
const (
	INT_STATUS_CC    = 0  // command complete
	INT_STATUS_TC    = 1  // transfer complete
	INT_STATUS_DINT  = 3  // DMA interrupt
	INT_STATUS_BWR   = 4  // buffer write ready
	INT_STATUS_BRR   = 5  // buffer read ready
	INT_STATUS_CINS  = 6  // card insertion
	INT_STATUS_CRM   = 7  // card removal
	INT_STATUS_CTOE  = 16 // command timeout error
	INT_STATUS_CCE   = 17 // command CRC error
	INT_STATUS_CEBE  = 18 // command end bit error
	INT_STATUS_CIE   = 19 // command index error
	INT_STATUS_DTOE  = 20 // data timeout error
	INT_STATUS_DCE   = 21 // data CRC error
	INT_STATUS_DEBE  = 22 // data end bit error
	INT_STATUS_AC12E = 24 // auto CMD12 error
	INT_STATUS_TNE   = 26 // tuning error
	INT_STATUS_DMAE  = 28 // DMA error

	// sdhciADMAErr is the standard SDHCI ADMA error bit (error status
	// bit 9), reserved on the uSDHC, where QEMU's model reports DMA
	// errors. It is enabled and treated as a DMA error too.
	sdhciADMAErr = 25

	intCmdErrors = 1<<INT_STATUS_CTOE | 1<<INT_STATUS_CCE | 1<<INT_STATUS_CEBE | 1<<INT_STATUS_CIE
	intDatErrors = 1<<INT_STATUS_DTOE | 1<<INT_STATUS_DCE | 1<<INT_STATUS_DEBE |
		1<<INT_STATUS_AC12E | 1<<INT_STATUS_DMAE | 1<<sdhciADMAErr
	intEnabled = 1<<INT_STATUS_CC | 1<<INT_STATUS_TC | 1<<INT_STATUS_DINT |
		1<<INT_STATUS_BWR | 1<<INT_STATUS_BRR | 1<<INT_STATUS_CINS | 1<<INT_STATUS_CRM |
		intCmdErrors | intDatErrors
)

// WTMK_LVL: read and write watermarks and bursts of 16 words.
const (
	WTMK_LVL_WR_BRST_LEN = 24
	WTMK_LVL_WR_WML      = 16
	WTMK_LVL_RD_BRST_LEN = 8
	WTMK_LVL_RD_WML      = 0

	// wtmkLvl is Linux's ESDHC_WTMK_DEFAULT_VAL (0x10401040): bursts
	// of 16 words, watermarks of 64, which sdhci_esdhc_imx_hwinit
	// writes because "the imx6q ROM code will change the default
	// watermark level setting to something insane".
	wtmkLvl = 16<<WTMK_LVL_WR_BRST_LEN | 64<<WTMK_LVL_WR_WML | 16<<WTMK_LVL_RD_BRST_LEN | 64<<WTMK_LVL_RD_WML
)

// MIX_CTRL bits 7:0: the transfer mode of the next command.
const (
	MIX_CTRL_DMAEN  = 0 // DMA enable
	MIX_CTRL_BCEN   = 1 // block count enable
	MIX_CTRL_AC12EN = 2 // auto CMD12
	MIX_CTRL_DDR_EN = 3
	MIX_CTRL_DTDSEL = 4 // data direction: 1 read (card to host)
	MIX_CTRL_MSBSEL = 5 // multiple blocks
	MIX_CTRL_AC23EN = 7 // auto CMD23

	mixCtrlXfer = 0xff
)

// ADMA2 descriptor attributes (SD Host Controller Simplified
// Specification §1.13.4; uSDHC "ADMA2 descriptor table"), 32-bit
// addressing: attributes 15:0 (with length 31:16), address 63:32.
const (
	admaValid   = 1 << 0
	admaEnd     = 1 << 1
	admaInt     = 1 << 2
	admaActTran = 2 << 4
	admaActLink = 3 << 4

	admaDescSize = 8
	// admaMaxLen is the most one descriptor moves here: the length field
	// is 16 bits, and 0 meaning 65536 is a point where controllers
	// differ, so descriptors stay a whole number of sectors below it.
	admaMaxLen = 65536 - 512
	// admaAlign: data addresses must be 32-bit aligned.
	admaAlign = 4
)
