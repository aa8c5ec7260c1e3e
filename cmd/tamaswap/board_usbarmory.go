//go:build tamago && arm && !mx6ullevk

package main

import "github.com/tamaswap/tamaswap/board/usbarmory"

var board = armBoard{
	Platform:    usbarmory.Platform,
	Model:       usbarmory.Model,
	Console:     usbarmory.Console,
	Controllers: usbarmory.Controllers,
	Entropy:     usbarmory.Entropy,
	DMA:         usbarmory.DMA,
	PowerOff:    usbarmory.PowerOff,
}
