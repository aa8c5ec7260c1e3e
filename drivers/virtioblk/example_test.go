package virtioblk_test

import (
	"fmt"
	"strings"

	"github.com/tamaswap/tamaswap/drivers/virtioblk"
	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// A board finds a virtio-mmio window, checks that it holds a block
// device and hands it, with its DMA memory, to New. Here the window and
// the memory are the device model's.
func ExampleNew() {
	m, err := virtiotest.New(virtiotest.Config{Transport: virtiotest.MMIOModern, Serial: "disk0"})
	if err != nil {
		panic(err)
	}
	defer m.Close()

	t, err := virtio.NewMMIO(m.MMIO())
	if err != nil || t.DeviceID() != virtioblk.DeviceID {
		panic(err)
	}
	d, err := virtioblk.New(t, m.DMA())
	if err != nil {
		panic(err)
	}
	defer d.Disconnect()

	buf, _ := d.AllocBuffer(4096) // DMA memory: no bounce copy
	defer d.FreeBuffer(buf)
	copy(buf, "hello, disk")
	if err := d.Write(8, buf); err != nil {
		panic(err)
	}
	clear(buf)
	if err := d.Read(8, buf); err != nil {
		panic(err)
	}
	serial, _ := d.Serial()
	fmt.Printf("%+v\n", d.Info())
	fmt.Println(strings.Join(d.FeatureNames(), " "))
	fmt.Println(serial, string(buf[:11]))
	// Output:
	// {ReadWrite:true SectorSize:512 Sectors:32768}
	// SEG_MAX BLK_SIZE FLUSH TOPOLOGY DISCARD WRITE_ZEROES INDIRECT_DESC EVENT_IDX VERSION_1
	// disk0 hello, disk
}
