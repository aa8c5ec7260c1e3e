//go:build tamago && amd64 && !firecracker && !cloud_hypervisor && !qemu_microvm

package main

// Built without a board tag, the program names what it needs in the
// compiler's error.
var machine = build_with_tag_firecracker_or_cloud_hypervisor_or_qemu_microvm
