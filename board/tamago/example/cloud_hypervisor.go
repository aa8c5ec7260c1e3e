//go:build tamago && amd64 && cloud_hypervisor

package main

import (
	"github.com/usbarmory/tamago/board/cloud_hypervisor/vm"

	"github.com/tamaswap/tamaswap/board/tamago"
)

var machine = tamago.CloudHypervisor

// cpu services the disks' interrupts: the board's bootstrap processor.
var cpu = vm.AMD64
