//go:build !(tamago && amd64)

package tamago

import "github.com/tamaswap/tamaswap/virtio"

// physMem is nil where this package knows no register access of its own:
// Machine.MapMem must supply it.
var physMem func(addr uint64, size uint32) virtio.Regs
