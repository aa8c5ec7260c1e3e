package shell

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// maxFillJobs bounds fill --jobs: each job holds a chunk buffer.
const maxFillJobs = 16

// fillJobsFlag takes fill's --jobs N out of args (1 when absent).
func fillJobsFlag(args []string) (pos []string, jobs int, err error) {
	pos, flags, err := splitFlags(args, map[string]bool{"--jobs": true})
	if err != nil {
		return nil, 0, err
	}
	v, ok := flags["--jobs"]
	if !ok {
		return pos, 1, nil
	}
	n, err := parseUint("--jobs", v, maxFillJobs)
	if err == nil && n == 0 {
		err = fmt.Errorf("--jobs 0: %w", errRange)
	}
	return pos, int(n), err
}

// fillJobs is fill from jobs goroutines at once, each writing its own
// contiguous share of [lba, lba+count) (the first ones a sector more
// when count does not divide): concurrent submitters on one disk, which
// with several CPUs run in parallel. It returns every job's error.
func fillJobs(dev block.Device, info block.Info, lba, count int64, v byte, jobs int) error {
	if jobs <= 1 || count < 2 {
		return fill(dev, info, lba, count, v)
	}
	jobs = int(min(int64(jobs), count, math.MaxInt32))
	errs := make([]error, jobs)
	var wg sync.WaitGroup
	share, extra := count/int64(jobs), count%int64(jobs)
	start := lba
	for j := range jobs {
		n := share
		if int64(j) < extra {
			n++
		}
		wg.Add(1)
		go func(j int, start, n int64) {
			defer wg.Done()
			errs[j] = fill(dev, info, start, n, v)
		}(j, start, n)
		start += n
	}
	wg.Wait()
	return errors.Join(errs...)
}
