//go:build tamago && amd64

package tamago

import (
	"github.com/tamaswap/tamaswap/board/x86"
	"github.com/tamaswap/tamaswap/virtio"
)

// physMem is TamaGo's register access on amd64: memory is identity-mapped,
// and TamaGo maps everything from 3 GiB to 6 GiB uncached, which holds
// every register window of the Machines above.
func physMem(addr uint64, size uint32) virtio.Regs { return x86.NewMMIO(addr, size) }
