module github.com/tamaswap/tamaswap

go 1.26.0

require (
	github.com/usbarmory/tamago v1.26.0
	golang.org/x/crypto v0.59.0
	golang.org/x/sys v0.50.0
)
