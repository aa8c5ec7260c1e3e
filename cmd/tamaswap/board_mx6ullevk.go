//go:build tamago && arm && mx6ullevk

package main

import "github.com/tamaswap/tamaswap/board/mx6ullevk"

var board = armBoard{
	Platform:    mx6ullevk.Platform,
	Model:       mx6ullevk.Model,
	Console:     mx6ullevk.Console,
	Controllers: mx6ullevk.Controllers,
	Entropy:     mx6ullevk.Entropy,
	DMA:         mx6ullevk.DMA,
	PowerOff:    mx6ullevk.PowerOff,
}
