package swapfs

import (
	"errors"
	"fmt"
	"sync"
)

// ErrWeakEntropy is New's error for an encrypted FS when the platform's
// random numbers do not come from a true random generator: its keys
// would be predictable (under QEMU's mcimx6ul-evk TamaGo seeds a DRBG
// from the boot clock, so every boot draws the same key).
var ErrWeakEntropy = errors.New("swapfs: the entropy source is not a true random generator")

var entropy = struct {
	sync.Mutex
	name    string
	trueRNG bool
}{name: "crypto/rand", trueRNG: true}

// SetEntropySource says where crypto/rand's numbers come from on this
// platform, and whether that is a true random generator (RDRAND, RNDR, a
// SoC's TRNG, the Linux kernel's getrandom) or not (a DRBG seeded from a
// clock). Boards call it at start; the default is "crypto/rand", true.
func SetEntropySource(name string, trueRNG bool) {
	entropy.Lock()
	entropy.name, entropy.trueRNG = name, trueRNG
	entropy.Unlock()
}

// EntropySource reports what SetEntropySource set.
func EntropySource() (name string, trueRNG bool) {
	entropy.Lock()
	defer entropy.Unlock()
	return entropy.name, entropy.trueRNG
}

// WithWeakEntropy lets WithEncryption run on an entropy source that is
// not a true random generator. The keys are then predictable: it is for
// tests under emulation, and is never applied by default.
func WithWeakEntropy() Option {
	return func(c *config) { c.weakEntropy = true }
}

// checkEntropy refuses encryption on a weak source without the override.
func checkEntropy(c *config) error {
	name, ok := EntropySource()
	if ok || c.weakEntropy {
		return nil
	}
	return fmt.Errorf("%w: entropy=%s (WithWeakEntropy overrides, for tests only)", ErrWeakEntropy, name)
}
