//go:build tamago && amd64 && !firecracker && !cloud_hypervisor

package main

import (
	"github.com/usbarmory/tamago/board/qemu/microvm"

	"github.com/tamaswap/tamaswap/board/tamago"
)

var machine = tamago.QEMUMicrovm

// cpu services the disks' interrupts: the board's bootstrap processor.
var cpu = microvm.AMD64
