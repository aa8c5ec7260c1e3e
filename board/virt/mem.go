//go:build tamago && arm64 && !linkramsize

package virt

import _ "unsafe"

// RAMSize is the memory the Go runtime gets (code, heap and stacks) from
// RAMStart: a build-time setting, as with upstream's boards (an
// application that wants another size builds with the tag linkramsize and
// defines runtime/goos.RamSize itself). QEMU's -m must be at least this.
//
// 128 MiB, of which the image takes about 34 MiB (Go 1.26's 32 MiB FIPS
// DRBG scratch buffer in .noptrbss; see board/microvm's RAMSize).
const RAMSize = 128 << 20

//go:linkname ramSize runtime/goos.RamSize
var ramSize uint = RAMSize
