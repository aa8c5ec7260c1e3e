package harness

import (
	"sync"
	"time"
)

func rdtsc() uint64

// HostTSCkHz measures the host's time-stamp counter frequency in kHz.
//
// Under TCG a guest's RDTSC reads the host's counter, so this is the
// guest's TSC frequency too. The hosted runtime hands it to the guest
// kernel (tsc_early_khz=): on microvm, which has neither HPET nor ACPI
// PM timer, the kernel otherwise calibrates the TSC against the PIT, and
// on a loaded host that calibration fails now and then ("tsc: Unable to
// calibrate against PIT") and the boot hangs.
var HostTSCkHz = sync.OnceValue(func() int64 {
	// Each end of the measurement is the sample whose clock reads lie
	// closest together, so that preemption between them does not count.
	sample := func() (uint64, time.Time) {
		var best time.Duration = 1 << 62
		var tsc uint64
		var at time.Time
		for range 50 {
			t0 := time.Now()
			c := rdtsc()
			t1 := time.Now()
			if d := t1.Sub(t0); d < best {
				best, tsc, at = d, c, t0.Add(d/2)
			}
		}
		return tsc, at
	}
	c0, t0 := sample()
	time.Sleep(200 * time.Millisecond)
	c1, t1 := sample()
	ns := t1.Sub(t0).Nanoseconds()
	if ns <= 0 || c1 <= c0 {
		return 0
	}
	return int64((c1 - c0) * 1e6 / uint64(ns))
})

// HostTSC reads the host's time-stamp counter, the clock a TCG amd64
// guest's TSC follows; ok is false where the host is not amd64.
//
// A host that is itself a virtual machine, paused now and then, may stop
// its TSC while its CLOCK_MONOTONIC (kvm-clock) goes on: these machines
// boot with tsc=unstable, and over ten hours of uptime one counted
// 29,183 s less on its TSC than on CLOCK_MONOTONIC. A guest clock that
// lost time against time.Now may then be right against the TSC.
func HostTSC() (tsc uint64, ok bool) { return rdtsc(), true }
