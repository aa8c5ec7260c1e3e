//go:build tamago && arm && !semihosting

package imx6

import (
	"runtime/goos"
)

// Semihosting = true in images built with the tag semihosting.
const Semihosting = false

// halt is package arm's exit (cpsid i; wfi), which its Init set.
var halt func(int32)

func init() {
	halt = goos.Exit
	goos.Exit = func(code int32) {
		print("tamaswap: halted, exit status ", code, "\n")
		halt(code)
	}
}
