# tamaswap — see README.md. Every target does its own set-up.
export GOTOOLCHAIN := local

GO ?= go

# The guest architecture of make qemu and make bench: amd64 or arm64.
ARCH ?= amd64

# Architectures whose host tests `make test` also runs, under QEMU
# user-mode emulation (qemu/setup installs qemu-user), and the packages
# it runs there: everything outside board/ and the image's main, and the
# boards' portable DMA pool and memory limit (board/heapdma).
CROSS_ARCHS := arm arm64 riscv64
CROSS_PKGS := ./virtio/... ./drivers/... ./cmd/internal/... ./board/heapdma/...
# GOARM for GOARCH=arm: ARMv7, as TamaGo's arm boards (USB armory Mk II,
# i.MX6UL/ULL) are.
CROSS_GOARM := 7

# The TamaGo compiler: $TAMAGO (path to its go command), else the one
# built in /opt/tamago-go. Targets that need it skip, saying so, without.
TAMAGO ?= $(wildcard /opt/tamago-go/bin/go)
# TamaGo targets the project builds, vetted with GOOS=tamago by `make
# vet-tamago`: one word each, GOARCH:PACKAGES[:TAGS], packages and tags
# comma-separated. A board adds its own with one line, e.g.
#   TAMAGO_TARGETS += arm64:./board/virt,./cmd/tamaswap
TAMAGO_TARGETS := amd64:./board/microvm,./cmd/tamaswap
TAMAGO_TARGETS += amd64:./board/tamago,./board/tamago/example
TAMAGO_TARGETS += amd64:./board/tamago/example:firecracker
TAMAGO_TARGETS += amd64:./board/tamago/example:cloud_hypervisor
TAMAGO_TARGETS += arm64:./board/virt,./cmd/tamaswap
# The i.MX6 boards: the USB armory image as flashed and as booted in QEMU,
# and the EVK's.
TAMAGO_TARGETS += arm:./board/imx6,./board/usbarmory,./cmd/tamaswap
TAMAGO_TARGETS += arm:./board/imx6,./board/usbarmory,./cmd/tamaswap:semihosting
TAMAGO_TARGETS += arm:./board/mx6ullevk,./cmd/tamaswap:mx6ullevk,semihosting

# make qemu ARCH=arm MACHINE=usbarmory: which guest (qemu/run --arch,
# --machine); an empty MACHINE is the arch's default. make imx takes
# MACHINE too.
MACHINE ?=

# Which QEMU make qemu and make bench boot: the system's (empty), or
# QEMU=10, Debian bookworm-backports' QEMU 10 unpacked into cache/qemu-10
# (qemu/qemu10; qemu/run --qemu 10).
QEMU ?=

.PHONY: all test test-both test-race test-cross vet vet-cross vet-tamago setup qemu bench soak imx sdcard clean

all: vet
	$(GO) build ./...

# The README's test command: vet (host, every cross architecture, every
# TamaGo target), every test under the race detector, then the portable
# packages' tests on each cross architecture. The QEMU boot tests (qemu/)
# fetch the guest kernel and build the images they need; TamaGo boot tests
# skip, saying so, where no compiler exists.
test: vet vet-cross vet-tamago setup test-both

# test-race and test-cross side by side: after its first minutes the race
# run is the QEMU boot tests alone, one guest at a time on one core, and
# the emulated cross runs take the other. The cross runs' output follows
# the race run's; either failing fails the target.
test-both:
	@mkdir -p out; \
	$(MAKE) --no-print-directory test-cross >out/test-cross.log 2>&1 & cross=$$!; \
	$(MAKE) --no-print-directory test-race; race=$$?; \
	wait $$cross; crossed=$$?; \
	cat out/test-cross.log; \
	if [ $$race != 0 ] || [ $$crossed != 0 ]; then echo "test: FAIL (race run: $$race, cross runs: $$crossed)"; exit 1; fi

test-race:
	@echo "== GOARCH=$$($(GO) env GOARCH) -race =="
	$(GO) test -race -timeout 60m ./...

# No -race under emulation: it would need a cross cgo toolchain.
test-cross:
	@fail=; for a in $(CROSS_ARCHS); do \
		case $$a in arm) q=qemu-arm;; arm64) q=qemu-aarch64;; *) q=qemu-$$a;; esac; \
		echo "== GOARCH=$$a =="; \
		GOARCH=$$a GOARM=$(CROSS_GOARM) $(GO) test -exec $$q -timeout 30m $(CROSS_PKGS) || fail="$$fail $$a"; \
	done; \
	if [ -n "$$fail" ]; then echo "test-cross: FAIL on$$fail"; exit 1; fi

# QEMU and cpio from Debian's packages, where missing, and QEMU 10 in
# cache/qemu-10: the boot tests run on both.
setup:
	@qemu/setup --qemu 10

vet:
	$(GO) vet ./...

vet-cross:
	@for a in $(CROSS_ARCHS); do \
		echo "== go vet GOARCH=$$a =="; \
		GOARCH=$$a GOARM=$(CROSS_GOARM) $(GO) vet $(CROSS_PKGS) || exit 1; \
	done

vet-tamago:
	@if [ -z "$(TAMAGO)" ]; then echo "vet-tamago: skipped: no TamaGo compiler"; exit 0; fi; \
	if [ ! -x "$(TAMAGO)" ]; then echo "vet-tamago: TAMAGO=$(TAMAGO) is not an executable go command" >&2; exit 1; fi; \
	for t in $(TAMAGO_TARGETS); do \
		arch=$${t%%:*}; rest=$${t#*:}; pkgs=$${rest%%:*}; tags=; \
		case $$rest in *:*) tags=$${rest#*:};; esac; \
		pkgs=$$(echo $$pkgs | tr , ' '); \
		echo "== go vet GOOS=tamago GOARCH=$$arch $$pkgs$${tags:+ -tags $$tags} =="; \
		GOOS=tamago GOARCH=$$arch GOARM=$(CROSS_GOARM) $(TAMAGO) vet -tags "$$tags" $$pkgs || exit 1; \
	done

# Boot the unikernel with a fresh sparse 2 GiB swap disk and run the demo
# (ARCH=arm64: on QEMU's arm64 virt machine).
qemu:
	@qemu/demo --arch $(ARCH) $(if $(MACHINE),--machine $(MACHINE)) $(if $(QEMU),--qemu $(QEMU))

# A bootable .imx for the USB armory Mk II (MACHINE=usbarmory, the
# default) or the i.MX6ULL EVK (MACHINE=mx6ullevk): out/imx/MACHINE/.
imx:
	@board/imx6/mkimx $(or $(MACHINE),usbarmory)

# A microSD card image for MACHINE (usbarmory, the default, or mx6ullevk):
# MBR, the .imx at byte 1024, a swap partition from the first 4 MiB
# boundary past it to the end of a card of SIZE (default 3584M; exact:
# SIZE=$$(blockdev --getsize64 /dev/sdX)): out/sdcard/MACHINE.img.
SIZE ?=
sdcard:
	@board/imx6/mksdcard $(or $(MACHINE),usbarmory) $(SIZE)

# Side-by-side benchmarks (see README; ARCH=arm64 writes results/bench-arm64.*).
bench:
	@qemu/bench --arch $(ARCH) $(if $(QEMU),--qemu $(QEMU))

# Boot the TamaGo image SOAK_BOOTS times (default 20), each running the
# whole bench workload list, swaptest 1G plain and encrypted, and mem;
# logs in out/soak/, non-zero exit on any crash (see qemu/soak).
soak:
	@qemu/soak --arch $(ARCH) $(if $(MACHINE),--machine $(MACHINE))

clean:
	rm -rf build out
