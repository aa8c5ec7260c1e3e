package shell

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

// On a board whose entropy is not a true RNG, swaptest --encrypt refuses
// and writes nothing; --weak-entropy lets tests under emulation go on.
func TestSwaptestRefusesWeakEntropy(t *testing.T) {
	defer swapfs.SetEntropySource(swapfs.EntropySource())
	swapfs.SetEntropySource("drbg-bootclock", false)
	m := mem(16384, 512)
	got, _ := run(t, []Disk{mkdisk(m)}, strings.Join([]string{
		"swaptest 1M --encrypt",
		"sum 0 16384",
		"swaptest 1M --encrypt --weak-entropy",
	}, "\n"))
	want(t, got,
		"~swaptest: error: .*entropy=drbg-bootclock .*--weak-entropy.*",
		"sum: "+sha(make([]byte, 16384*512)),
		"~"+fmt.Sprintf(passRE, 1<<20, 64<<10, true),
	)
}
