//go:build tamago && amd64 && qemu_microvm

package main

import (
	_ "github.com/usbarmory/tamago/board/qemu/microvm"

	"github.com/tamaswap/tamaswap/board/tamago"
)

var machine = tamago.QEMUMicrovm
