package tamago_test

import (
	"fmt"
	"log"

	"github.com/tamaswap/tamaswap/board/tamago"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// unclaimed answers like an address no device decodes: zeroes, as KVM
// VMMs return for an MMIO read nobody claims.
type unclaimed struct{}

func (unclaimed) Read8(uint32) uint8     { return 0 }
func (unclaimed) Read16(uint32) uint16   { return 0 }
func (unclaimed) Read32(uint32) uint32   { return 0 }
func (unclaimed) Read64(uint32) uint64   { return 0 }
func (unclaimed) Write8(uint32, uint8)   {}
func (unclaimed) Write16(uint32, uint16) {}
func (unclaimed) Write32(uint32, uint32) {}
func (unclaimed) Write64(uint32, uint64) {}
func (unclaimed) Barrier(virtio.Barrier) {}

// In a TamaGo program on Firecracker the two lines that matter are
//
//	disks, err := tamago.Firecracker.OpenDisks(tamago.NewDMA(dma.Default()))
//	swap, err := swapfs.New(disks[0])
//
// with the real registers and upstream's DMA region. Here, so that the
// example runs anywhere, the registers of Firecracker's first slot and
// the DMA memory belong to a device model.
func ExampleMachine_OpenDisks() {
	model, err := virtiotest.New(virtiotest.Config{Transport: virtiotest.MMIOModern})
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()
	machine := tamago.Firecracker
	machine.MapMem = func(addr uint64, size uint32) virtio.Regs {
		if addr == machine.MMIOBase {
			return model.MMIO()
		}
		return unclaimed{}
	}

	disks, err := machine.OpenDisks(model.DMA())
	if err != nil {
		log.Fatal(err)
	}
	swap, err := swapfs.New(disks[0])
	if err != nil {
		log.Fatal(err)
	}
	h := swap.Empty()
	if err := h.Append([]byte("parked on the disk")); err != nil {
		log.Fatal(err)
	}
	p := make([]byte, 4)
	if _, err := h.ReadAt(p, 14); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(disks), disks[0].Info(), string(p))
	h.Free()
	disks[0].Disconnect()
	// Output: 1 {true 512 32768} disk
}
