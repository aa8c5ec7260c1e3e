//go:build !amd64

package harness

// HostTSCkHz returns 0 (unknown) where the host is not amd64: TCG's
// guest TSC is then not the host's counter.
func HostTSCkHz() int64 { return 0 }

// HostTSC returns false where the host is not amd64.
func HostTSC() (tsc uint64, ok bool) { return 0, false }
