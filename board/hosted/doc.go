// Package hosted is the board of the hosted runtime: tamaswap's in-image
// program built GOOS=linux as /init of an initramfs, booted by QEMU with
// Debian's cloud kernel, whose own virtio drivers are modules that never
// load. From Linux user space it reaches the same devices a TamaGo board
// drives directly:
//
//   - virtio-mmio register windows (QEMU microvm on amd64, virt on
//     arm64) through /dev/mem;
//   - DMA memory whose physical address is known and that a device can
//     reach: on amd64 a range of guest RAM the kernel was told to leave
//     alone with memmap=SIZE$ADDR, mapped through /dev/mem; on arm64,
//     where memmap= does not exist and /dev/mem maps RAM the kernel does
//     not own as Device memory, hugepages with their physical addresses
//     from /proc/self/pagemap (hugedma.go);
//   - PCI functions (QEMU q35 on amd64, virt's PCIe host on arm64)
//     through sysfs: enabling, configuration space, memory BARs by mmap
//     of resourceN, I/O BARs by pread/pwrite of resourceN;
//   - power-off with an exit status: on amd64 through QEMU's
//     isa-debug-exit device (an OUTB after ioperm: the cloud kernel has
//     no /dev/port); on arm64 by a semihosting SYS_EXIT from user space.
//
// The arch-specific parts are arch_amd64.go and arch_arm64.go (the
// machine's layout, register windows, DMA memory, console) and
// power_amd64.go and power_arm64.go. Everything here runs as PID 1 and
// needs root; it uses golang.org/x/sys/unix and nothing of cgo.
package hosted
