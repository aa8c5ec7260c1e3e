package workload

import (
	"testing"
	"time"
)

func TestLatencyPercentiles(t *testing.T) {
	var l Latency
	if l.Percentile(50) != 0 {
		t.Error("empty histogram has a median")
	}
	// 1..1000 µs: the median 500 µs, p99 990 µs, each within 1/16.
	for i := 1; i <= 1000; i++ {
		l.Record(time.Duration(i) * time.Microsecond)
	}
	var m Latency
	m.Add(&l)
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 500 * time.Microsecond}, {99, 990 * time.Microsecond}, {100, 1000 * time.Microsecond}} {
		got := m.Percentile(c.p)
		if got > c.want || got < c.want-c.want/16 {
			t.Errorf("p%v = %v, want %v within 1/16 below", c.p, got, c.want)
		}
	}
	if m.Count() != 1000 {
		t.Errorf("Count %d", m.Count())
	}
	// Buckets are monotonic and each value falls in the bucket whose
	// lower bound is at most it.
	prev := time.Duration(-1)
	for i := 0; i < 40*latencySub; i++ {
		v := latencyValue(i)
		if v <= prev || latencyBucket(v) != i {
			t.Fatalf("bucket %d: value %v (previous %v), back to bucket %d", i, v, prev, latencyBucket(v))
		}
		prev = v
	}
	if n := testing.AllocsPerRun(100, func() { l.Record(time.Millisecond) }); n != 0 {
		t.Errorf("Record allocates %v times", n)
	}
}
