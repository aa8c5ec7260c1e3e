//go:build tamago && amd64 && !linkramsize

package microvm

import _ "unsafe"

// RAMSize is the memory the Go runtime gets (code, heap and stacks),
// starting at 0x10000000: a build-time setting. An application that wants
// another size builds with the tag linkramsize and defines
// runtime/goos.RamSize itself, as with upstream's boards.
const RAMSize = 64 << 20

//go:linkname ramSize runtime/goos.RamSize
var ramSize uint = RAMSize
