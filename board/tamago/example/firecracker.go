//go:build tamago && amd64 && firecracker

package main

import (
	_ "github.com/usbarmory/tamago/board/firecracker/microvm"

	"github.com/tamaswap/tamaswap/board/tamago"
)

var machine = tamago.Firecracker
