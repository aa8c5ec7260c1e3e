// Package tamago puts tamaswap's virtio-blk driver into a program built on
// one of upstream TamaGo's amd64 boards (github.com/usbarmory/tamago):
// Firecracker's board/firecracker/microvm, Cloud Hypervisor's
// board/cloud_hypervisor/vm and QEMU's board/qemu/microvm. Those boards
// run under KVM; the program imports one of them for its side effects, as
// TamaGo programs do, and this package beside it:
//
//	import (
//		_ "github.com/usbarmory/tamago/board/firecracker/microvm"
//		"github.com/usbarmory/tamago/dma"
//
//		"github.com/tamaswap/tamaswap/board/tamago"
//		"github.com/tamaswap/tamaswap/drivers/swapfs"
//	)
//
//	disks, err := tamago.Firecracker.OpenDisks(tamago.NewDMA(dma.Default()))
//	…
//	space, err := swapfs.FindSpace(disks[0]) // its swap partition, or the disk if blank
//	swap, err := swapfs.New(space)
//
// A Machine says where the VMM puts its virtio devices (virtio-mmio slots,
// or PCI Express configuration space and a window for the BARs this
// package places); OpenDisks finds the block devices there and starts a
// virtioblk.Device on each. DMA is virtio.DMA over a TamaGo dma.Region:
// upstream's boards set up the global one (dma.Default(), 256 MiB at
// 0x50000000), outside the memory the Go runtime reuses.
//
// The register access behind a Machine is identity-mapped memory-mapped
// I/O (package board/x86), which is what TamaGo gives a program on amd64;
// on other targets, or in tests, Machine.MapMem supplies it. Under
// GOOS=tamago on amd64 nothing else is needed.
package tamago
