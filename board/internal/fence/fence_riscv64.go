package fence

// Implemented in fence_riscv64.s. The Go riscv64 assembler's FENCE is
// "fence iorw, iorw" (RISC-V unprivileged ISA, "Memory Ordering
// Instructions"), which orders device I/O and memory in every direction;
// it serves as all three barriers, as Linux's mb does.

// Write is FENCE iorw, iorw.
func Write()

// Read is FENCE iorw, iorw.
func Read()

// Full is FENCE iorw, iorw.
func Full()
