package virtiotest_test

import (
	"fmt"

	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// A device model is a register window and a piece of shared memory; a
// driver under test gets both (virtio.NewMMIO(m.MMIO()), m.DMA()).
func ExampleNew() {
	m, err := virtiotest.New(virtiotest.Config{Transport: virtiotest.MMIOModern, Serial: "disk0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	r := m.MMIO()
	fmt.Printf("magic %#x version %d device %d capacity %d\n",
		r.Read32(0x000), r.Read32(0x004), r.Read32(0x008), r.Read32(0x100))
	// Output: magic 0x74726976 version 2 device 2 capacity 32768
}
