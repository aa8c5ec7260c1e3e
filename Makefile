# tamaswap — see README.md. Every target does its own set-up.
export GOTOOLCHAIN := local

GO ?= go

# The guest architecture of make qemu and make bench: amd64 or arm64.
ARCH ?= amd64

.PHONY: all test vet setup qemu bench clean

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

# Boot the unikernel with a fresh sparse 2 GiB swap disk and run the demo
# (ARCH=arm64: on QEMU's arm64 virt machine).
qemu:
	@qemu/demo --arch $(ARCH)

# Side-by-side benchmarks (see README; ARCH=arm64 writes results/bench-arm64.*).
bench:
	@qemu/bench --arch $(ARCH)

clean:
	rm -rf build out
