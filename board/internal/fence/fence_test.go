package fence

import (
	"testing"

	"github.com/tamaswap/tamaswap/virtio"
)

// TestDo runs every barrier: on arm, arm64 and riscv64 (under qemu-user
// in make test) an instruction the CPU does not accept at EL0 or a wrong
// encoding traps, failing the test binary.
func TestDo(t *testing.T) {
	for _, b := range []virtio.Barrier{virtio.BarrierWrite, virtio.BarrierRead, virtio.BarrierFull, 0} {
		Do(b)
	}
}

func BenchmarkFull(b *testing.B) {
	for range b.N {
		Full()
	}
}
