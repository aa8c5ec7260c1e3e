package workload

import (
	"math/bits"
	"time"
)

// Latency is a histogram of request latencies, from the guest's clock,
// with 16 buckets per power of two of nanoseconds (each within 1/16 of
// its value), so that recording allocates nothing and costs a clock read.
type Latency struct {
	counts [64 * latencySub]uint32
	n      int64
}

const (
	latencySubBits = 4
	latencySub     = 1 << latencySubBits
)

func latencyBucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < latencySub {
		return int(v)
	}
	exp := bits.Len64(v) - 1 - latencySubBits
	return (exp+1)*latencySub + int(v>>exp)&(latencySub-1)
}

// latencyValue is the lower bound of bucket i.
func latencyValue(i int) time.Duration {
	if i < latencySub {
		return time.Duration(i)
	}
	exp := i/latencySub - 1
	return time.Duration((latencySub + uint64(i%latencySub)) << exp)
}

// Record adds one request's latency.
func (l *Latency) Record(d time.Duration) {
	l.counts[latencyBucket(d)]++
	l.n++
}

// Add merges o into l.
func (l *Latency) Add(o *Latency) {
	for i, c := range o.counts {
		l.counts[i] += c
	}
	l.n += o.n
}

// Count is the number of latencies recorded.
func (l *Latency) Count() int64 { return l.n }

// Percentile returns the latency below which p percent of the requests
// completed (the lower bound of its bucket), 0 with none recorded.
func (l *Latency) Percentile(p float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := int64(float64(l.n)*p/100 + 0.5)
	rank = min(max(rank, 1), l.n)
	var seen int64
	for i, c := range l.counts {
		seen += int64(c)
		if seen >= rank {
			return latencyValue(i)
		}
	}
	return latencyValue(len(l.counts) - 1)
}
