//go:build tamago && arm64

package virt

import _ "unsafe"

//go:linkname ramStart runtime/goos.RamStart
var ramStart uint = RAMStart

// ramStackOffset leaves the top of RAM free for nothing in particular but
// keeps the initial stack pointer inside it (as upstream's boards do).
//
//go:linkname ramStackOffset runtime/goos.RamStackOffset
var ramStackOffset uint = 0x100
