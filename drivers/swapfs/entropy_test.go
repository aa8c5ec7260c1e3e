package swapfs

import (
	"errors"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// Encryption refuses a weak entropy source unless told otherwise, and
// writes nothing.
func TestWeakEntropyRefused(t *testing.T) {
	defer SetEntropySource(EntropySource())
	SetEntropySource("drbg-bootclock", false)
	dev := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 1 << 14})
	_, err := New(dev, WithEncryption())
	if !errors.Is(err, ErrWeakEntropy) || !strings.Contains(err.Error(), "entropy=drbg-bootclock") {
		t.Fatalf("New: %v, want ErrWeakEntropy naming the source", err)
	}
	if _, err := New(dev); err != nil {
		t.Errorf("plain swap: %v", err)
	}
	if _, err := New(dev, WithEncryption(), WithWeakEntropy()); err != nil {
		t.Errorf("with the override: %v", err)
	}
	SetEntropySource("rdrand", true)
	if _, err := New(dev, WithEncryption()); err != nil {
		t.Errorf("true source: %v", err)
	}
}
