# tamaswap — see README.md. Every target does its own set-up.
export GOTOOLCHAIN := local

GO ?= go

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

# Boot the unikernel with a fresh sparse 2 GiB swap disk and run the demo.
qemu:
	@qemu/demo

# Side-by-side benchmarks (see README).
bench:
	@qemu/bench

clean:
	rm -rf build out
