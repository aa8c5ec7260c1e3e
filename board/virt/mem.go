//go:build tamago && arm64 && !linkramsize

package virt

import _ "unsafe"

// RAMSize is the memory the Go runtime gets (code, heap and stacks) from
// RAMStart: a build-time setting, as with upstream's boards (an
// application that wants another size builds with the tag linkramsize and
// defines runtime/goos.RamSize itself). QEMU's -m must be at least this.
const RAMSize = 64 << 20

//go:linkname ramSize runtime/goos.RamSize
var ramSize uint = RAMSize
