package sdmmc

// Commands (SD Physical Layer Simplified Specification 9.00 §4.7.4;
// JESD84-B51 §6.10.4). Where SD and eMMC share an index with different
// meanings both names are given.
const (
	cmdGoIdleState       = 0  // CMD0 GO_IDLE_STATE
	cmdSendOpCond        = 1  // CMD1 SEND_OP_COND (eMMC)
	cmdAllSendCID        = 2  // CMD2 ALL_SEND_CID
	cmdSendRelativeAddr  = 3  // CMD3 SEND_RELATIVE_ADDR (SD) / SET_RELATIVE_ADDR (eMMC)
	cmdSwitch            = 6  // CMD6 SWITCH_FUNC (SD) / SWITCH (eMMC)
	cmdSelectCard        = 7  // CMD7 SELECT/DESELECT_CARD
	cmdSendIfCond        = 8  // CMD8 SEND_IF_COND (SD) / SEND_EXT_CSD (eMMC)
	cmdSendCSD           = 9  // CMD9 SEND_CSD
	cmdStopTransmission  = 12 // CMD12 STOP_TRANSMISSION
	cmdSendStatus        = 13 // CMD13 SEND_STATUS
	cmdSetBlocklen       = 16 // CMD16 SET_BLOCKLEN
	cmdReadSingleBlock   = 17 // CMD17 READ_SINGLE_BLOCK
	cmdReadMultipleBlock = 18 // CMD18 READ_MULTIPLE_BLOCK
	cmdSetBlockCount     = 23 // CMD23 SET_BLOCK_COUNT
	cmdWriteBlock        = 24 // CMD24 WRITE_BLOCK
	cmdWriteMultiple     = 25 // CMD25 WRITE_MULTIPLE_BLOCK
	cmdEraseWrBlkStart   = 32 // CMD32 ERASE_WR_BLK_START (SD)
	cmdEraseWrBlkEnd     = 33 // CMD33 ERASE_WR_BLK_END (SD)
	cmdEraseGroupStart   = 35 // CMD35 ERASE_GROUP_START (eMMC)
	cmdEraseGroupEnd     = 36 // CMD36 ERASE_GROUP_END (eMMC)
	cmdErase             = 38 // CMD38 ERASE
	cmdAppCmd            = 55 // CMD55 APP_CMD

	acmdSetBusWidth  = 6  // ACMD6 SET_BUS_WIDTH
	acmdSDStatus     = 13 // ACMD13 SD_STATUS
	acmdSDSendOpCond = 41 // ACMD41 SD_SEND_OP_COND
	acmdSendSCR      = 51 // ACMD51 SEND_SCR
)

// Card status, the R1 response (SD §4.10.1; JESD84-B51 §6.13).
const (
	statusOutOfRange     = 1 << 31
	statusAddressError   = 1 << 30
	statusBlockLenError  = 1 << 29
	statusEraseSeqError  = 1 << 28
	statusEraseParam     = 1 << 27
	statusWPViolation    = 1 << 26
	statusCardIsLocked   = 1 << 25
	statusLockUnlockFail = 1 << 24
	statusComCRCError    = 1 << 23
	statusIllegalCommand = 1 << 22
	statusCardECCFailed  = 1 << 21
	statusCCError        = 1 << 20
	statusError          = 1 << 19
	statusCSDOverwrite   = 1 << 16
	statusWPEraseSkip    = 1 << 15
	statusReadyForData   = 1 << 8
	statusSwitchError    = 1 << 7 // eMMC
	statusAppCmd         = 1 << 5

	statusStateShift = 9
	statusStateMask  = 0xf

	// statusErrors are the bits that fail a command. COM_CRC_ERROR and
	// ILLEGAL_COMMAND refer to the previous command (SD Table 4-42,
	// type "E R"), so they are checked in the status of CMD13 polls only.
	statusErrors = statusOutOfRange | statusAddressError | statusBlockLenError |
		statusEraseSeqError | statusEraseParam | statusWPViolation |
		statusCardIsLocked | statusLockUnlockFail | statusCardECCFailed |
		statusCCError | statusError | statusCSDOverwrite | statusWPEraseSkip
)

// Card states, CURRENT_STATE of the card status.
const (
	stateIdle  = 0
	stateReady = 1
	stateIdent = 2
	stateStby  = 3
	stateTran  = 4
	stateData  = 5
	stateRcv   = 6
	statePrg   = 7
	stateDis   = 8
)

// OCR bits (SD §5.1; JESD84-B51 §7.1).
const (
	ocrBusy       = 1 << 31 // card power-up done (set when ready)
	ocrCCS        = 1 << 30 // SD: card capacity status (SDHC/SDXC); ACMD41: HCS
	ocrSectorMode = 2 << 29 // eMMC access mode: sector addressing
	ocrAccessMask = 3 << 29
	ocrVoltages   = 0x00ff8000 // 2.7–3.6 V
	ocrLowVoltage = 0x00000080 // eMMC 1.70–1.95 V
)

// CMD8 argument: 2.7–3.6 V supply and the check pattern (SD §4.3.13).
const (
	ifCondVHS     = 1 << 8
	ifCondPattern = 0xaa
)

// eMMC EXT_CSD byte offsets (JESD84-B51 §7.4).
const (
	extFlushCache       = 32
	extCacheCtrl        = 33
	extPartitionConfig  = 179
	extEraseGroupDef    = 175
	extBusWidth         = 183
	extHSTiming         = 185
	extRev              = 192
	extCardType         = 196
	extSecCount         = 212 // 4 bytes, little-endian
	extHCEraseGrpSize   = 224
	extEraseTimeoutMult = 223
	extSecFeatureSupp   = 231
	extTrimMult         = 232
	extGenericCMD6Time  = 248
	extCacheSize        = 249 // 4 bytes, little-endian, KiB

	extSecGBClEn = 1 << 4 // SEC_FEATURE_SUPPORT: TRIM is supported

	partitionAccessMask = 7 // PARTITION_CONFIG bits 2:0: 0 selects the user area

	cardTypeHS26 = 1 << 0
	cardTypeHS52 = 1 << 1
)

// eMMC CMD6 SWITCH argument (JESD84-B51 §6.10.4): write a byte of EXT_CSD.
func switchArg(index, value uint8) uint32 {
	const writeByte = 3
	return writeByte<<24 | uint32(index)<<16 | uint32(value)<<8
}

// eMMC CMD38 arguments.
const (
	eraseArgErase = 0x00000000
	eraseArgTrim  = 0x00000001
)
