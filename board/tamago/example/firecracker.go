//go:build tamago && amd64 && firecracker

package main

import (
	"github.com/usbarmory/tamago/board/firecracker/microvm"

	"github.com/tamaswap/tamaswap/board/tamago"
)

var machine = tamago.Firecracker

// cpu services the disks' interrupts: the board's bootstrap processor.
var cpu = microvm.AMD64
