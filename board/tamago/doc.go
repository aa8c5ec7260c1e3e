// Package tamago puts tamaswap's virtio-blk driver into a program built on
// one of upstream TamaGo's amd64 boards (github.com/usbarmory/tamago):
// Firecracker's board/firecracker/microvm, Cloud Hypervisor's
// board/cloud_hypervisor/vm and QEMU's board/qemu/microvm. Those boards
// run under KVM; the program imports one of them (for its side effects and
// its CPU, which services interrupts), as TamaGo programs do, and this
// package beside it:
//
//	import (
//		"github.com/usbarmory/tamago/board/firecracker/microvm"
//		"github.com/usbarmory/tamago/dma"
//
//		"github.com/tamaswap/tamaswap/board/tamago"
//		"github.com/tamaswap/tamaswap/drivers/swapfs"
//	)
//
//	m := tamago.Firecracker
//	disks, err := m.Open(tamago.NewDMA(dma.Default()))
//	…
//	err = m.Route(disks, 64, tamago.BSP)              // vectors 64 and up, masked
//	go microvm.AMD64.ServiceInterrupts(tamago.Handler(disks))
//	for _, d := range disks {
//		d.UseInterrupts(true) // an unrouted disk refuses, and polls
//	}
//	space, err := swapfs.FindSpace(disks[0].Device) // its swap partition, or the disk if blank
//	swap, err := swapfs.New(space)
//
// A Machine says where the VMM puts its virtio devices (virtio-mmio slots,
// or PCI Express configuration space and a window for the BARs this
// package places); OpenDisks and Open find the block devices there and
// start a virtioblk.Device on each, Open also saying where each one's
// interrupt comes from. DMA is virtio.DMA over a TamaGo dma.Region:
// upstream's boards set up the global one (dma.Default(), 256 MiB at
// 0x50000000), outside the memory the Go runtime reuses.
//
// # Interrupts
//
// Each machine says where its disks' interrupts come from: Firecracker
// gives each virtio-mmio device a legacy GSI and names it on the kernel
// command line it hands the guest (BootCmdline, VirtioMMIODevices);
// QEMU's microvm wires slot n to GSI 24+n on its second I/O APIC; Cloud
// Hypervisor's virtio-pci functions signal MSI-X only. Route programs
// them on amd64: an I/O APIC redirection entry per GSI (fixed, physical
// destination, edge, active high), or the function's MSI-X table entry
// 0 with the device's events mapped to it, each to a vector of its own,
// masked. Handler is the service routine upstream's
// amd64.CPU.ServiceInterrupts takes; UseInterrupts unmasks a disk's line
// and lets its driver sleep until the interrupt. The driver still looks
// at its ring every 10 ms and keeps its request timeout, so a lost
// interrupt costs latency, and a silent device an error, never a hang.
//
// The register access behind a Machine is identity-mapped memory-mapped
// I/O (package board/x86), which is what TamaGo gives a program on amd64;
// on other targets, or in tests, Machine.MapMem supplies it. Under
// GOOS=tamago on amd64 nothing else is needed.
package tamago
