// Package qemu holds the boot tests: the in-image program booted in QEMU
// against QEMU's real virtio-blk devices (boot_test.go), through the
// harness in qemu/internal/harness that qemu/run also uses. The scripts
// here are qemu/run (one boot), qemu/demo (make qemu), qemu/kernel (the
// hosted runtime's guest kernel) and qemu/bench (make bench).
package qemu
