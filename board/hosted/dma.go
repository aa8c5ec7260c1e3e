//go:build linux && (amd64 || arm64)

package hosted

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrNoDMARange means the kernel command line reserves no memory for DMA.
var ErrNoDMARange = errors.New("hosted: no memmap=SIZE$ADDR range on the kernel command line")

// DMARange is a physical memory range reserved with memmap=SIZE$ADDR.
type DMARange struct {
	Addr, Size uint64
}

// parseDMARange returns the first memmap=SIZE$ADDR (reserve) range of a
// kernel command line. SIZE and ADDR take the kernel's memparse suffixes
// K, M, G and 0x prefixes.
func parseDMARange(cmdline string) (DMARange, error) {
	for _, f := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(f, "memmap=")
		if !ok {
			continue
		}
		// memmap= may list several ranges separated by commas.
		for _, r := range strings.Split(v, ",") {
			size, addr, ok := strings.Cut(r, "$")
			if !ok {
				continue
			}
			s, err := memparse(size)
			if err != nil {
				return DMARange{}, fmt.Errorf("hosted: memmap=%s: %w", r, err)
			}
			a, err := memparse(addr)
			if err != nil {
				return DMARange{}, fmt.Errorf("hosted: memmap=%s: %w", r, err)
			}
			if s == 0 || a+s < a {
				return DMARange{}, fmt.Errorf("hosted: memmap=%s: empty or wrapping range", r)
			}
			return DMARange{Addr: a, Size: s}, nil
		}
	}
	return DMARange{}, ErrNoDMARange
}

// memparse parses a number the way the kernel's memparse does.
func memparse(s string) (uint64, error) {
	shift := 0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K', 'k':
			shift = 10
		case 'M', 'm':
			shift = 20
		case 'G', 'g':
			shift = 30
		case 'T', 't':
			shift = 40
		}
		if shift != 0 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, err
	}
	if v<<shift>>shift != v {
		return 0, fmt.Errorf("%s: too large", s)
	}
	return v << shift, nil
}

func readCmdline() (string, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return "", fmt.Errorf("hosted: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
