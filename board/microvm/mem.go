//go:build tamago && amd64 && !linkramsize

package microvm

import _ "unsafe"

// RAMSize is the memory the Go runtime gets (code, heap and stacks),
// starting at 0x10000000: a build-time setting. An application that wants
// another size builds with the tag linkramsize and defines
// runtime/goos.RamSize itself, as with upstream's boards.
//
// Of its 128 MiB the image takes about 34 MiB: Go 1.26's
// crypto/internal/fips140/drbg keeps a 32 MiB entropy scratch buffer in
// .noptrbss, which an operating system backs with pages only when FIPS
// mode touches it but which TamaGo, with no demand paging, lays in RAM.
// About 88 MiB is left for the heap (heapdma.HeapSpace), DMA pool
// included.
const RAMSize = 128 << 20

//go:linkname ramSize runtime/goos.RamSize
var ramSize uint = RAMSize
