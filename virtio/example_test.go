package virtio_test

import (
	"fmt"
	"log"

	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// A driver's start-up (§3.1.1): find the device behind a register
// window, negotiate features, set up a queue in DMA memory, and set
// DRIVER_OK. The window and the memory here are a device model's; on a
// board they are the board's.
func ExampleInit() {
	model, err := virtiotest.New(virtiotest.Config{Transport: virtiotest.MMIOModern, QueueSize: 64})
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()

	t, err := virtio.NewMMIO(model.MMIO())
	if err != nil {
		log.Fatal(err)
	}
	features, err := virtio.Init(t, virtio.FeatureSet(virtio.Version1, virtio.IndirectDesc))
	if err != nil {
		log.Fatal(err)
	}
	q, err := virtio.NewQueue(t, model.DMA(), 0, 256, features)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Free()
	if err := virtio.Ready(t); err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Name(), t.DeviceID(), features.Names(nil), q.Size(), q.Indirect())
	// Output: mmio 2 [INDIRECT_DESC VERSION_1] 64 true
}
