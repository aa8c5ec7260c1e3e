//go:build amd64

// Package x86 gives TamaGo boards on amd64 the three things tamaswap's
// drivers need from a platform (see package virtio): register access over
// memory-mapped I/O (MMIO) and over I/O ports (Ports), and DMA memory
// (HeapDMA).
//
// Under GOOS=tamago on amd64 memory is identity-mapped: a Go pointer is a
// physical address, so the Go heap is DMA memory and buffers reach devices
// without a copy. The register types also build for linux/amd64 so that
// their bounds logic is tested on the host; only a bare-metal (or ring 0)
// caller may actually touch hardware with them.
package x86
