package virtiotest

// Constants of the virtio 1.2 specification, seen from the device side.
// They are defined here, not taken from package virtio, so that the model
// is an independent reading of the specification that the driver is tested
// against.

// Device status bits (§2.1).
const (
	statusAcknowledge      = 1
	statusDriver           = 2
	statusDriverOK         = 4
	statusFeaturesOK       = 8
	statusDeviceNeedsReset = 64
	statusFailed           = 128
)

// Reserved feature bits (§6) and block device feature bits (§5.2.3).
const (
	featBlkSizeMax     = 1
	featBlkSegMax      = 2
	featBlkGeometry    = 4
	featBlkRO          = 5
	featBlkBlkSize     = 6
	featBlkFlush       = 9
	featBlkTopology    = 10
	featBlkMQ          = 12
	featBlkDiscard     = 13
	featBlkWriteZeroes = 14
	featIndirectDesc   = 28
	featEventIdx       = 29
	featVersion1       = 32
)

// bit returns the feature mask of bit n.
func bit(n uint) uint64 { return 1 << n }

// Split virtqueue (§2.7).
const (
	descSize = 16 // struct virtq_desc: le64 addr, le32 len, le16 flags, le16 next

	descFNext     = 1
	descFWrite    = 2
	descFIndirect = 4

	availFNoInterrupt = 1 // VIRTQ_AVAIL_F_NO_INTERRUPT
	usedFNoNotify     = 1 // VIRTQ_USED_F_NO_NOTIFY

	usedElemSize = 8 // struct virtq_used_elem: le32 id, le32 len

	// maxSegments bounds the buffers of one element, as QEMU's
	// VIRTQUEUE_MAX_SIZE does for an indirect table.
	maxSegments = 1024

	// legacyPCIAlign is VIRTIO_PCI_VRING_ALIGN (§4.1.5.1.4.1, legacy):
	// the used ring starts on the next 4096-byte boundary.
	legacyPCIAlign = 4096
	legacyPFNShift = 12
)

// Block device requests (§5.2.6).
const (
	blkTIn          = 0
	blkTOut         = 1
	blkTFlush       = 4
	blkTGetID       = 8
	blkTDiscard     = 11
	blkTWriteZeroes = 13

	blkSOK     = 0
	blkSIOErr  = 1
	blkSUnsupp = 2

	blkReqHeaderSize = 16 // le32 type, le32 reserved, le64 sector
	blkIDBytes       = 20 // VIRTIO_BLK_ID_BYTES
	blkDWZSize       = 16 // struct virtio_blk_discard_write_zeroes
	blkDWZUnmap      = 1  // flags.unmap

	sectorShift = 9 // the protocol's sectors are always 512 bytes

	// qemuMaxRequestSectors is QEMU's BDRV_REQUEST_MAX_SECTORS, the
	// default max_discard_sectors and max_write_zeroes_sectors.
	qemuMaxRequestSectors = 0x3fffff
)

// struct virtio_blk_config (§5.2.4), offsets of the fields the model fills.
const (
	cfgCapacity          = 0x00
	cfgSizeMax           = 0x08
	cfgSegMax            = 0x0c
	cfgGeomCylinders     = 0x10
	cfgGeomHeads         = 0x12
	cfgGeomSectors       = 0x13
	cfgBlkSize           = 0x14
	cfgPhysicalBlockExp  = 0x18
	cfgAlignmentOffset   = 0x19
	cfgMinIOSize         = 0x1a
	cfgOptIOSize         = 0x1c
	cfgWriteback         = 0x20
	cfgNumQueues         = 0x22
	cfgMaxDiscardSectors = 0x24
	cfgMaxDiscardSeg     = 0x28
	cfgDiscardAlignment  = 0x2c
	cfgMaxWZSectors      = 0x30
	cfgMaxWZSeg          = 0x34
	cfgWZMayUnmap        = 0x38
	// QEMU 7.2's config_len with WRITE_ZEROES offered: through
	// write_zeroes_may_unmap. A 32-bit read at 0x38 reads all ones there.
	blkConfigSize = 0x39
)

// virtio-mmio registers (§4.2.2 and, for version 1, §4.2.4).
const (
	mmioMagicValue        = 0x000
	mmioVersion           = 0x004
	mmioDeviceID          = 0x008
	mmioVendorID          = 0x00c
	mmioDeviceFeatures    = 0x010
	mmioDeviceFeaturesSel = 0x014
	mmioDriverFeatures    = 0x020
	mmioDriverFeaturesSel = 0x024
	mmioGuestPageSize     = 0x028 // version 1
	mmioQueueSel          = 0x030
	mmioQueueNumMax       = 0x034
	mmioQueueNum          = 0x038
	mmioQueueAlign        = 0x03c // version 1
	mmioQueuePFN          = 0x040 // version 1
	mmioQueueReady        = 0x044
	mmioQueueNotify       = 0x050
	mmioInterruptStatus   = 0x060
	mmioInterruptACK      = 0x064
	mmioStatus            = 0x070
	mmioQueueDescLow      = 0x080
	mmioQueueDescHigh     = 0x084
	mmioQueueDriverLow    = 0x090
	mmioQueueDriverHigh   = 0x094
	mmioQueueDeviceLow    = 0x0a0
	mmioQueueDeviceHigh   = 0x0a4
	mmioSHMSel            = 0x0ac
	mmioSHMLenLow         = 0x0b0
	mmioSHMLenHigh        = 0x0b4
	mmioSHMBaseLow        = 0x0b8
	mmioSHMBaseHigh       = 0x0bc
	mmioQueueReset        = 0x0c0
	mmioConfigGeneration  = 0x0fc
	mmioConfig            = 0x100
	mmioWindowSize        = 0x200

	mmioMagic  = 0x74726976 // "virt"
	qemuVendor = 0x554d4551 // "QEMU"

	interruptUsedBuffer   = 1 // VIRTIO_MMIO_INT_VRING, ISR bit 0
	interruptConfigChange = 2 // VIRTIO_MMIO_INT_CONFIG, ISR bit 1
)

// virtio-pci (§4.1).
const (
	pciVendorRedHat       = 0x1af4
	pciDeviceModernBlk    = 0x1040 + 2 // 0x1040 + device type
	pciDeviceLegacyBlk    = 0x1001     // transitional block device
	pciSubsysModern       = 0x1100     // QEMU's PCI_SUBDEVICE_ID_QEMU
	pciClassStorageSCSI   = 0x0100     // QEMU's class for virtio-blk
	pciCapIDVendor        = 0x09
	pciCapIDMSIX          = 0x11
	pciStatusCapList      = 0x10
	pciCommandIO          = 0x1
	pciCommandMemory      = 0x2
	pciCommandBusMaster   = 0x4
	pciCommandWritable    = 0x0547 // IO, memory, master, parity, SERR, INTx disable
	pciCapabilityListPtr  = 0x34
	pciInterruptLine      = 0x3c
	pciInterruptPin       = 0x3d
	pciConfigSize         = 256
	pciBAR0               = 0x10
	pciBAR1               = 0x14
	pciBAR4               = 0x20
	pciBAR5               = 0x24
	pciBAREnd             = 0x28
	pciBARIO              = 0x1
	pciBARMem64Prefetch   = 0xc
	pciMSIXEnable         = 0x8000
	pciMSIXFunctionMask   = 0x4000
	pciMSIXBARSize        = 0x1000
	pciMSIXPBAOffset      = 0x800
	pciVirtioNoVector     = 0xffff
	pciModernBARSize      = 0x4000
	pciNotifyOffMult      = 4 // QEMU without page-per-vq
	pciLegacyBARSize      = 128
	pciModernRegionStride = 0x1000

	// cfg_type values of struct virtio_pci_cap.
	pciCapCommonCfg = 1
	pciCapNotifyCfg = 2
	pciCapISRCfg    = 3
	pciCapDeviceCfg = 4
	pciCapPCICfg    = 5

	// Where the model puts its capabilities, QEMU 7.2's layout.
	pciCapCommonOff = 0x40
	pciCapISROff    = 0x50
	pciCapDeviceOff = 0x60
	pciCapNotifyOff = 0x70
	pciCapPCICfgOff = 0x84
	pciCapMSIXOff   = 0x98
	// A transitional device without modern capabilities has MSI-X first.
	pciCapLegacyMSIXOff = 0x40

	// BAR4 regions.
	pciCommonBase = 0x0000
	pciISRBase    = 0x1000
	pciDeviceBase = 0x2000
	pciNotifyBase = 0x3000
)

// struct virtio_pci_common_cfg (§4.1.4.3).
const (
	commonDFSelect      = 0x00
	commonDF            = 0x04
	commonGFSelect      = 0x08
	commonGF            = 0x0c
	commonMSIX          = 0x10
	commonNumQ          = 0x12
	commonStatus        = 0x14
	commonCfgGeneration = 0x15
	commonQSelect       = 0x16
	commonQSize         = 0x18
	commonQMSIX         = 0x1a
	commonQEnable       = 0x1c
	commonQNotifyOff    = 0x1e
	commonQDescLo       = 0x20
	commonQDescHi       = 0x24
	commonQAvailLo      = 0x28
	commonQAvailHi      = 0x2c
	commonQUsedLo       = 0x30
	commonQUsedHi       = 0x34
	commonQNotifData    = 0x38
	commonQReset        = 0x3a
	commonSize          = 0x3c
)

// The legacy virtio-pci header in I/O BAR0 (§4.1.4.10).
const (
	legacyHostFeatures  = 0
	legacyGuestFeatures = 4
	legacyQueuePFN      = 8
	legacyQueueSize     = 12
	legacyQueueSelect   = 14
	legacyQueueNotify   = 16
	legacyStatus        = 18
	legacyISR           = 19
	legacyConfigVector  = 20 // only while MSI-X is enabled
	legacyQueueVector   = 22 // only while MSI-X is enabled
	legacyConfig        = 20 // device config without MSI-X
	legacyConfigMSIX    = 24 // device config with MSI-X enabled
)
