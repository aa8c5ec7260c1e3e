//go:build tamago && amd64

// Command example is the smallest program that puts a virtio-blk disk and
// swap into a unikernel on one of upstream TamaGo's KVM boards. The board
// is chosen at build time by a tag, firecracker or cloud_hypervisor, each
// file of that name importing the upstream board; without either, it is
// qemu/microvm:
//
//	GOOS=tamago GOARCH=amd64 GOOSPKG=github.com/usbarmory/tamago \
//		$TAMAGO build -tags firecracker -ldflags "-T 0x10010000 -R 0x1000" \
//		./board/tamago/example
//
// The disks complete their requests by interrupt: Route programs each
// one's line (an I/O APIC entry for a virtio-mmio disk, MSI-X for a
// virtio-pci one) to a vector from vector0, the board's CPU services
// them with Handler, and UseInterrupts switches each disk over; a disk
// the machine names no interrupt for keeps polling. It parks a mebibyte
// on the first disk, reads it back, and exits. This module's tests
// build it for each board; they cannot boot it (no KVM).
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/usbarmory/tamago/dma"

	"github.com/tamaswap/tamaswap/board/tamago"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

// vector0 is the first CPU vector the disks' interrupts raise.
const vector0 = 64

func main() {
	disks, err := machine.Open(tamago.NewDMA(dma.Default()))
	if err != nil {
		fmt.Println("example:", err) // some device failed; the others work
	}
	if len(disks) == 0 {
		fmt.Println("example: no virtio-blk disk on", machine.Board)
		os.Exit(1)
	}
	if err := machine.Route(disks, vector0, tamago.BSP); err != nil {
		fmt.Println("example:", err) // those disks poll
	}
	go cpu.ServiceInterrupts(tamago.Handler(disks))
	for i, d := range disks {
		if err := d.UseInterrupts(true); err == nil {
			fmt.Printf("example: disk %d: interrupt vector %d (GSI %d)\n", i, d.Vector(), d.GSI)
		}
	}
	// The disk's swap partition, or the disk whole if it is blank;
	// anything else (a table without swap, a file system, a boot
	// image) is refused rather than overwritten.
	space, err := swapfs.FindSpace(disks[0])
	if err != nil {
		fmt.Println("example:", err)
		os.Exit(1)
	}
	swap, err := swapfs.New(space)
	if err != nil {
		fmt.Println("example:", err)
		os.Exit(1)
	}
	h := swap.Empty()
	data := bytes.Repeat([]byte("tamaswap"), 128<<10) // 1 MiB
	if err := h.Append(data); err != nil {
		fmt.Println("example: append:", err)
		os.Exit(1)
	}
	back := make([]byte, len(data))
	if _, err := h.ReadAt(back, 0); err != nil || !bytes.Equal(back, data) {
		fmt.Println("example: read back:", err)
		os.Exit(1)
	}
	h.Free()
	fmt.Printf("example: PASS %s %+v\n", machine.Board, disks[0].Info())
	for _, d := range disks {
		d.Disconnect()
	}
}
