package shell

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tamaswap/tamaswap/cmd/internal/workload"
	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

// ioChunk bounds the buffer of fill and sum: a COUNT of a whole disk
// streams through it.
const ioChunk = 1 << 20

func runInfo(s *shell, args []string) (int, bool) {
	if len(args) != 0 {
		s.usage("info", nil)
		return 0, false
	}
	if len(s.disks) == 0 {
		s.printf("info: error: no disks")
	}
	for _, d := range s.disks {
		reidentify(s, d)
		s.info(d)
		s.partLines(d)
	}
	return 0, false
}

// info prints d's info line. It only calls Info: no I/O.
func (s *shell) info(d *disk) {
	var i block.Info
	if d.Dev != nil {
		i = d.Dev.Info()
	}
	transport := orUnknown(d.Transport)
	if d.Controller != "" {
		transport += " controller=" + d.Controller
	}
	irq := "poll"
	if d.IRQ != nil && d.IRQ.Interrupts() {
		irq = strconv.Itoa(d.IRQ.Line())
	}
	queues := ""
	if d.Ring != "" {
		queues = fmt.Sprintf(" queues=%d ring=%s", d.Queues, d.Ring)
	}
	s.printf("info: disk=%d transport=%s version=%s sectors=%d sector_size=%d ro=%t features=%s%s irq=%s",
		d.n, transport, orUnknown(d.Version), i.Sectors, i.SectorSize, !i.ReadWrite,
		strings.Join(d.Features, ","), queues, irq)
}

func runUse(s *shell, args []string) (int, bool) {
	if len(args) != 1 {
		s.usage("use", nil)
		return 0, false
	}
	if strings.Contains(args[0], "p") {
		s.usePartition(args[0])
		return 0, false
	}
	n, err := parseUint("disk", args[0], math.MaxInt)
	if err == nil && n >= int64(len(s.disks)) {
		err = fmt.Errorf("disk %d: %w (%d disks: 0 to %d)", n, errRange, len(s.disks), len(s.disks)-1)
		if len(s.disks) == 0 {
			err = fmt.Errorf("disk %d: %w (no disks)", n, errRange)
		}
	}
	if err != nil {
		s.fail("use", err)
		return 0, false
	}
	s.cur, s.part = int(n), nil
	s.printf("use: disk=%d", n)
	return 0, false
}

// sectorArgs parses LBA COUNT and checks them against the disk.
func sectorArgs(info block.Info, op string, args []string) (lba, count int64, err error) {
	if lba, err = parseUint("LBA", args[0], math.MaxInt64); err != nil {
		return 0, 0, err
	}
	if count, err = parseUint("COUNT", args[1], math.MaxInt64); err != nil {
		return 0, 0, err
	}
	return lba, count, block.CheckRange(info, op, lba, count)
}

// chunkBuffer returns a buffer of up to ioChunk bytes (at least a sector)
// for count sectors, from the device's allocator when it has one.
func chunkBuffer(dev block.Device, info block.Info, count int64) (workload.Buffer, error) {
	per := max(int64(ioChunk/info.SectorSize), 1)
	return workload.AllocBuffer(dev, int(min(per, count))*info.SectorSize)
}

func runFill(s *shell, args []string) (int, bool) {
	args, jobs, err := fillJobsFlag(args)
	if err != nil || len(args) != 3 {
		s.usage("fill", err)
		return 0, false
	}
	d, ok := s.current("fill")
	if !ok {
		return 0, false
	}
	info := d.Dev.Info()
	lba, count, err := sectorArgs(info, "write", args[:2])
	if err != nil {
		s.fail("fill", err)
		return 0, false
	}
	v, err := parseUint("BYTE", args[2], 255)
	if err != nil {
		s.fail("fill", err)
		return 0, false
	}
	if count > 0 && !info.ReadWrite {
		// Said here, whatever the device would do with the request.
		s.fail("fill", block.Errorf("write", lba, block.ErrReadOnly))
		return 0, false
	}
	if err := fillJobs(d.Dev, info, lba, count, byte(v), jobs); err != nil {
		s.fail("fill", err)
		return 0, false
	}
	s.printf("fill: ok")
	return 0, false
}

func fill(dev block.Device, info block.Info, lba, count int64, v byte) error {
	if count == 0 {
		return nil
	}
	buf, err := chunkBuffer(dev, info, count)
	if err != nil {
		return err
	}
	defer buf.Free()
	b := buf.Bytes
	for i := range b {
		b[i] = v
	}
	ss := int64(info.SectorSize)
	one := make([][]byte, 1) // a variadic call through an interface would allocate per request
	for done := int64(0); done < count; {
		n := min(int64(len(b))/ss, count-done)
		one[0] = b[:n*ss]
		if err := dev.Write(lba+done, one...); err != nil {
			return err
		}
		done += n
	}
	return nil
}

func runSum(s *shell, args []string) (int, bool) {
	if len(args) != 2 {
		s.usage("sum", nil)
		return 0, false
	}
	d, ok := s.current("sum")
	if !ok {
		return 0, false
	}
	info := d.Dev.Info()
	lba, count, err := sectorArgs(info, "read", args)
	if err != nil {
		s.fail("sum", err)
		return 0, false
	}
	sum, err := sum(d.Dev, info, lba, count)
	if err != nil {
		s.fail("sum", err)
		return 0, false
	}
	s.printf("sum: %s", sum)
	return 0, false
}

func sum(dev block.Device, info block.Info, lba, count int64) (string, error) {
	h := sha256.New()
	if count > 0 {
		buf, err := chunkBuffer(dev, info, count)
		if err != nil {
			return "", err
		}
		defer buf.Free()
		b := buf.Bytes
		ss := int64(info.SectorSize)
		one := make([][]byte, 1)
		for done := int64(0); done < count; {
			n := min(int64(len(b))/ss, count-done)
			one[0] = b[:n*ss]
			if err := dev.Read(lba+done, one...); err != nil {
				return "", err
			}
			h.Write(b[:n*ss])
			done += n
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func runSelftest(s *shell, args []string) (int, bool) {
	if len(args) != 0 {
		s.usage("selftest", nil)
		return 0, false
	}
	d, ok := s.current("selftest")
	if !ok {
		return 0, false
	}
	if err := blocktest.TestDevice(d.Dev); err != nil {
		s.printf("selftest: FAIL %s", oneLine(err.Error()))
		return 0, false
	}
	s.printf("selftest: PASS")
	return 0, false
}

func runSleep(s *shell, args []string) (int, bool) {
	d, ok := s.msArg("sleep", args)
	if !ok {
		return 0, false
	}
	time.Sleep(d)
	s.printf("sleep: done")
	return 0, false
}

func runIRQ(s *shell, args []string) (int, bool) {
	if len(args) != 1 || (args[0] != "on" && args[0] != "off") {
		s.usage("irq", nil)
		return 0, false
	}
	if len(s.disks) == 0 {
		s.printf("irq: error: no disks")
		return 0, false
	}
	// A partition's requests are its disk's: the switch is the disk's.
	d := s.disks[s.cur]
	if d.IRQ == nil {
		s.printf("irq: error: disk %d: the board wires no interrupt to it; it polls", d.n)
		return 0, false
	}
	if err := d.IRQ.UseInterrupts(args[0] == "on"); err != nil {
		s.fail("irq", fmt.Errorf("disk %d: %w", d.n, err))
		return 0, false
	}
	mode := "poll"
	if d.IRQ.Interrupts() {
		mode = "interrupt"
	}
	s.printf("irq: disk=%d mode=%s", d.n, mode)
	return 0, false
}

// runClock prints the guest's monotonic time, so that a host can set
// the guest clock's rate against its own over a long window, free of the
// console's round trips that time a single command.
func runClock(s *shell, args []string) (int, bool) {
	if len(args) != 0 {
		s.usage("clock", nil)
		return 0, false
	}
	s.printf("clock: ns=%d", time.Since(s.start).Nanoseconds())
	return 0, false
}

func runExit(s *shell, args []string) (int, bool) {
	switch len(args) {
	case 0:
		return 0, true
	case 1:
		// 0-255: what a process exit status and QEMU's isa-debug-exit carry.
		n, err := parseUint("status", args[0], 255)
		if err != nil {
			s.fail("exit", err)
			return 0, false
		}
		return int(n), true
	}
	s.usage("exit", nil)
	return 0, false
}

func runBench(s *shell, args []string) (int, bool) {
	pos, flags, err := splitFlags(args, map[string]bool{"--size": true, "--ms": true, "--rounds": true, "--weak-entropy": false})
	if err != nil {
		s.usage("bench", err)
		return 0, false
	}
	cfg := workload.Config{Seed: uint64(time.Now().UnixNano())}
	if v, ok := flags["--size"]; ok {
		if cfg.Bytes, err = parseSize("--size", v); err == nil && cfg.Bytes == 0 {
			err = fmt.Errorf("--size 0: %w", errRange)
		}
	}
	if v, ok := flags["--ms"]; ok && err == nil {
		var ms int64
		if ms, err = parseUint("--ms", v, math.MaxInt64/int64(time.Millisecond)); err == nil && ms == 0 {
			err = fmt.Errorf("--ms 0: %w", errRange)
		}
		cfg.Duration = time.Duration(ms) * time.Millisecond
	}
	// --rounds N runs the list N times over, round=R on each line: the
	// workloads of a round run close together in time, so a ratio of two
	// of them within a round sees one state of the emulated machine.
	rounds := int64(0)
	if v, ok := flags["--rounds"]; ok && err == nil {
		if rounds, err = parseUint("--rounds", v, maxBenchRounds); err == nil && rounds == 0 {
			err = fmt.Errorf("--rounds 0: %w", errRange)
		}
	}
	if err != nil {
		s.fail("bench", err)
		return 0, false
	}
	list := workload.All()
	if len(pos) > 0 {
		list = list[:0]
		for _, name := range pos {
			w, err := workload.Lookup(name)
			if err != nil {
				s.fail("bench", err)
				return 0, false
			}
			list = append(list, w)
		}
	}
	d, ok := s.current("bench")
	if !ok {
		return 0, false
	}
	cfg.Dev = d.Dev
	var opts []swapfs.Option
	if _, weak := flags["--weak-entropy"]; weak {
		opts = append(opts, swapfs.WithWeakEntropy())
	}
	cfg.Swap = func(encrypt bool) (*swapfs.FS, error) { return s.swapFS(d, encrypt, opts...) }
	if rounds == 0 {
		for _, w := range list {
			benchOne(s, w, cfg, "")
		}
		return 0, false
	}
	for r := range rounds {
		for _, w := range list {
			benchOne(s, w, cfg, fmt.Sprintf(" round=%d", r+1))
		}
	}
	return 0, false
}

// latencyFields are bench's per-request latency fields, for the workloads
// that record them: p50_us= and p99_us= from the guest's clock, and ops=,
// the requests they are taken over.
func latencyFields(r workload.Result) string {
	if r.Latency == nil || r.Latency.Count() == 0 {
		return ""
	}
	return fmt.Sprintf(" p50_us=%.1f p99_us=%.1f ops=%d", float64(r.Latency.Percentile(50))/1e3, float64(r.Latency.Percentile(99))/1e3, r.Ops)
}

// maxBenchRounds bounds bench --rounds.
const maxBenchRounds = 1000

// benchOne runs w and prints its result line, with suffix after it.
func benchOne(s *shell, w workload.Workload, cfg workload.Config, suffix string) {
	r, err := w.Run(cfg)
	if err != nil {
		s.fail("bench", err)
		return
	}
	s.printf("bench: %s mib_s=%.2f iops=%.1f%s%s", r.Name, r.MiBps(), r.IOPS(), latencyFields(r), suffix)
}
