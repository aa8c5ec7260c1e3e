//go:build tamago && arm64

package virt

import "github.com/tamaswap/tamaswap/board/arm64"

// PL031 data register (ARM PrimeCell Real Time Clock (PL031) Technical
// Reference Manual, 3.3.1): seconds, which QEMU starts at the host's
// time since the Unix epoch.
const rtcDR = 0x000

func rtcSeconds() uint32 { return arm64.Load32(RTCBase + rtcDR) }
