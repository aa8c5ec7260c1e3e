# tamaswap — see README.md. Every target does its own set-up.
export GOTOOLCHAIN := local

GO ?= go

.PHONY: all test vet setup qemu bench imx clean

# make qemu ARCH=arm MACHINE=usbarmory: which guest (qemu/run --arch,
# --machine); empty is qemu/run's default. make imx takes MACHINE too.
ARCH ?=
MACHINE ?=

all: vet
	$(GO) build ./...

# The README's test command: vet, then every test under the race detector.
# The QEMU boot tests (qemu/) fetch the guest kernel and build the images
# they need; TamaGo boot tests skip, saying so, where no compiler exists.
test: vet setup
	$(GO) test -race -timeout 60m ./...

# QEMU and cpio from Debian's packages, where missing.
setup:
	@qemu/setup

vet:
	$(GO) vet ./...

# Boot the unikernel with a fresh sparse 2 GiB swap disk and run the demo.
qemu:
	@qemu/demo $(if $(ARCH),--arch $(ARCH)) $(if $(MACHINE),--machine $(MACHINE))

# A bootable .imx for the USB armory Mk II (MACHINE=usbarmory, the
# default) or the i.MX6ULL EVK (MACHINE=mx6ullevk): out/imx/MACHINE/.
imx:
	@board/imx6/mkimx $(or $(MACHINE),usbarmory)

# Side-by-side benchmarks (see README).
bench:
	@qemu/bench

clean:
	rm -rf build out
