// Package hosted is the board of the hosted runtime: tamaswap's in-image
// program built GOOS=linux as /init of an initramfs, booted by QEMU with
// Debian's cloud kernel, whose own virtio drivers are modules that never
// load. From Linux user space it reaches the same devices a TamaGo board
// drives directly:
//
//   - virtio-mmio register windows (QEMU microvm) through /dev/mem;
//   - DMA memory: a range of guest RAM the kernel was told to leave alone
//     with memmap=SIZE$ADDR, mapped through /dev/mem, so its physical
//     address is known and a device can reach it;
//   - PCI functions (QEMU q35) through sysfs: configuration space, memory
//     BARs by mmap of resourceN, I/O BARs by pread/pwrite of resourceN;
//   - power-off with an exit status through QEMU's isa-debug-exit device
//     (an OUTB after ioperm: the cloud kernel has no /dev/port).
//
// Everything here runs as PID 1 and needs root; it uses
// golang.org/x/sys/unix and nothing of cgo.
package hosted
