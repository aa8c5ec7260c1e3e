//go:build tamago && arm64

package virt

import (
	_ "unsafe"
)

// The runtime's entropy (goos.InitRNG, goos.GetRandomData): FEAT_RNG's
// RNDR register (ARM ARM D19.2.127), a random 64-bit number from the
// implementation's true random source, reseeded from it on every read;
// QEMU's -cpu max has it, cortex-a53 does not. Both hooks run before
// Hwinit1 and before the heap: they allocate nothing.

// idAA64ISAR0RNDR is ID_AA64ISAR0_EL1.RNDR, bits [63:60]: 0b0001 when
// RNDR and RNDRRS are implemented.
const idAA64ISAR0RNDR = 60

// hasRNDR is set by initRNG.
var hasRNDR bool

//go:linkname initRNG runtime/goos.InitRNG
func initRNG() {
	hasRNDR = readIDAA64ISAR0()>>idAA64ISAR0RNDR&0xf >= 1
	if !hasRNDR {
		// No entropy source: stop here rather than run on numbers
		// anyone could predict (crypto/rand, swapfs's keys).
		for _, c := range []byte("virt: the CPU has no RNDR (FEAT_RNG) to seed random numbers from: boot with -cpu max\n") {
			printk(c)
		}
		PowerOff(NoEntropyStatus)
	}
}

// NoEntropyStatus is the exit status of a boot on a CPU without RNDR.
const NoEntropyStatus = 120

//go:linkname getRandomData runtime/goos.GetRandomData
func getRandomData(b []byte) {
	for len(b) > 0 {
		v := nextRandom()
		for i := 0; i < 8 && len(b) > 0; i++ {
			b[0] = byte(v)
			b = b[1:]
			v >>= 8
		}
	}
}

// nextRandom reads RNDR until it succeeds: a read fails (PSTATE.Z set,
// value 0) only when the source has no entropy to give within a
// reasonable time, and the next read may succeed.
func nextRandom() uint64 {
	for {
		if v, ok := rndr(); ok {
			return v
		}
	}
}

// In rng_arm64.s.
func readIDAA64ISAR0() uint64
func rndr() (v uint64, ok bool)
