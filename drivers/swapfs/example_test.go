package swapfs_test

import (
	"fmt"
	"log"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

func Example() {
	// 64 MiB of 512-byte sectors; any block.Device will do.
	disk := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 64 << 11})
	fs, err := swapfs.New(disk)
	if err != nil {
		log.Fatal(err)
	}
	h := fs.Empty()
	defer h.Free()
	for i := range 3 {
		if err := h.Append(fmt.Appendf(nil, "record %d;", i)); err != nil {
			log.Fatal(err)
		}
	}
	p := make([]byte, 9)
	if _, err := h.ReadAt(p, 9); err != nil {
		log.Fatal(err)
	}
	st := fs.Stats()
	fmt.Printf("%q of %d bytes; %d of %d blocks of %d KiB free\n", p, h.Size(), st.FreeBlocks, st.TotalBlocks, st.BlockSize>>10)
	// Output: "record 1;" of 27 bytes; 63 of 64 blocks of 1024 KiB free
}
