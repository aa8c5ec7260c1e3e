//go:build tamago && amd64 && !firecracker && !cloud_hypervisor

package main

import (
	_ "github.com/usbarmory/tamago/board/qemu/microvm"

	"github.com/tamaswap/tamaswap/board/tamago"
)

var machine = tamago.QEMUMicrovm
