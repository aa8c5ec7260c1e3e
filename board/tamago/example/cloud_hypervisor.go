//go:build tamago && amd64 && cloud_hypervisor

package main

import (
	_ "github.com/usbarmory/tamago/board/cloud_hypervisor/vm"

	"github.com/tamaswap/tamaswap/board/tamago"
)

var machine = tamago.CloudHypervisor
