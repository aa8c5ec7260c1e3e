package fence

import "sync/atomic"

// amd64 orders stores with stores and loads with loads (Intel SDM Vol. 3A
// §9.2.2 "Memory Ordering in P6 and More Recent Processor Families"),
// uncached MMIO and port I/O are not reordered with ring accesses, and the
// compiler does not move ordinary memory accesses across the sync/atomic
// operations the queue publishes and reads its indices with. Only a store
// followed by a load needs an instruction: a locked read-modify-write,
// which is what Go's atomics already compile to.

// Write is nothing: stores are not reordered with older stores.
func Write() {}

// Read is nothing: loads are not reordered with older loads.
func Read() {}

// Full is a locked add of zero to a stack word (LOCK XADD), a full barrier
// that, unlike MFENCE, Go's atomics give without assembly. The queue's
// avail idx store is itself an XCHG, so this costs one more locked
// instruction per notification.
func Full() {
	var w uint32
	atomic.AddUint32(&w, 0)
}
