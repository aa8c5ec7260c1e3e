package main

// The fio path of the benchmarks: the guest kernel's virtio_blk, as on the
// kernel path, driven by Debian's fio instead of our workload loop. fio
// and exactly the shared libraries it needs come on a second, read-only
// disk holding an ext2 file system (cmd/benchreport builds it); the shell
// gets a `fio` command that runs fio on the current disk's block device,
// with fixed options (fioArgs), one workload at a time, and prints what
// fio's JSON report says.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tamaswap/tamaswap/board/hosted"
	"github.com/tamaswap/tamaswap/cmd/internal/shell"
)

// fioRoot is where the fio disk is mounted. Its layout is cmd/benchreport's:
// bin/fio, and lib/ holding the dynamic loader and every library by its
// DT_NEEDED name.
const fioRoot = "/fio"

// fioLoader is the dynamic loader on the fio disk, run explicitly so
// that the guest needs no /lib64 and the libraries no install paths.
const fioLoader = fioRoot + "/lib/ld-linux-x86-64.so.2"

// mountFioDisk mounts the first read-only disk that holds an ext2 file
// system at fioRoot, and returns the other disks (the ones to benchmark)
// in their order.
func mountFioDisk(kds []*hosted.KernelDisk) ([]*hosted.KernelDisk, error) {
	if err := os.MkdirAll(fioRoot, 0o755); err != nil {
		return nil, err
	}
	var rest []*hosted.KernelDisk
	var mountErrs []error
	mounted := false
	for _, kd := range kds {
		if mounted || kd.Info().ReadWrite {
			rest = append(rest, kd)
			continue
		}
		// ext2 is mounted by the kernel's ext4 driver (the cloud kernel
		// has no CONFIG_EXT2_FS).
		err := unix.Mount(kd.Path(), fioRoot, "ext4", unix.MS_RDONLY, "")
		if err != nil {
			mountErrs = append(mountErrs, fmt.Errorf("mount %s: %w", kd.Path(), err))
			rest = append(rest, kd)
			continue
		}
		mounted = true
		kd.Disconnect()
	}
	if !mounted {
		return nil, fmt.Errorf("fio path: no read-only disk with fio's file system: %w", errors.Join(mountErrs...))
	}
	return rest, nil
}

// fioVersion returns `fio --version`.
func fioVersion() (string, error) {
	out, err := exec.Command(fioLoader, "--library-path", fioRoot+"/lib", fioRoot+"/bin/fio", "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("fio --version: %w: %s", err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

// fioJob is one benchmark workload as fio options.
type fioJob struct {
	rw, bs string
	qd     int
}

// fioJobs are the workloads of cmd/internal/workload that fio can run
// the same way: the same request sizes, directions and depths.
var fioJobs = map[string]fioJob{
	"seqwrite-1M":      {"write", "1M", 1},
	"seqread-1M":       {"read", "1M", 1},
	"randread-4K-qd1":  {"randread", "4k", 1},
	"randwrite-4K-qd1": {"randwrite", "4k", 1},
	"randread-4K-qd16": {"randread", "4k", 16},
}

// fioEngines are the I/O engines, by the name the fio command takes.
// psync is synchronous: depth 1 only.
var fioEngines = []string{"psync", "io_uring"}

// fioArgs are fio's options for the jobs (ENGINE:WORKLOAD) over dev,
// each within size bytes and ms milliseconds, whichever comes first, as
// our workloads are bounded: one fio run, the jobs one after another
// (stonewall), so that fio and its libraries load once. The options are
// fixed: O_DIRECT, one process, random offsets over the whole device
// drawn afresh each run and allowed to repeat (as ours are), and io_uring
// without polling (no hipri, no sqthread_poll), so that it waits for the
// interrupt as psync does.
func fioArgs(jobs []string, dev string, size, ms int64) []string {
	args := []string{
		"--filename=" + dev, "--direct=1", "--numjobs=1",
		fmt.Sprintf("--io_size=%d", size), fmt.Sprintf("--runtime=%dms", ms),
		"--randrepeat=0", "--norandommap", "--output-format=json",
	}
	for _, spec := range jobs {
		engine, w, _ := strings.Cut(spec, ":")
		j := fioJobs[w]
		args = append(args, "--name="+spec, "--stonewall", "--ioengine="+engine,
			"--rw="+j.rw, "--bs="+j.bs, fmt.Sprintf("--iodepth=%d", j.qd))
	}
	return args
}

// fioReport is the part of fio's JSON report the command reads.
type fioReport struct {
	Jobs []struct {
		Name  string `json:"jobname"`
		Error int    `json:"error"`
		Read  fioDir `json:"read"`
		Write fioDir `json:"write"`
	} `json:"jobs"`
}

// fioDir is one direction of a job's report.
type fioDir struct {
	IOBytes int64   `json:"io_bytes"`
	BWBytes float64 `json:"bw_bytes"`
	IOPS    float64 `json:"iops"`
}

// runFio is the shell's fio command:
//
//	fio [--size SIZE] [--ms MS] ENGINE:WORKLOAD...
//
// It prints `fio: version=… dev=…`, then `fio: ENGINE WORKLOAD mib_s=…
// iops=…` per workload, or `fio: error: ENGINE WORKLOAD: TEXT`.
func runFio(d *shell.Disk, args []string, printf func(string, ...any)) {
	fail := func(format string, a ...any) { printf("fio: error: "+format, a...) }
	size, ms := int64(64<<20), int64(3000)
	var jobs []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "--size", "--ms":
			if i+1 == len(args) {
				fail("%s needs a value", a)
				return
			}
			i++
			v, err := parseFioNumber(args[i], a == "--size")
			if err != nil {
				fail("%s %s: %v", a, args[i], err)
				return
			}
			if a == "--size" {
				size = v
			} else {
				ms = v
			}
		default:
			jobs = append(jobs, a)
		}
	}
	kd, ok := diskDevice(d)
	if !ok {
		fail("the current disk is not one the kernel drives (boot with %s)", hosted.FioPathFlag)
		return
	}
	ver, err := fioVersion()
	if err != nil {
		fail("%v", err)
		return
	}
	printf("fio: version=%s dev=%s", ver, kd.Path())
	var run []string
	for _, spec := range jobs {
		engine, w, _ := strings.Cut(spec, ":")
		j, known := fioJobs[w]
		switch {
		case !known:
			fail("%s %s: unknown workload", engine, w)
		case engine != "psync" && engine != "io_uring":
			fail("%s %s: unknown engine (have %s)", engine, w, strings.Join(fioEngines, ", "))
		case engine == "psync" && j.qd > 1:
			fail("%s %s: psync is synchronous, depth 1 only", engine, w)
		default:
			run = append(run, spec)
		}
	}
	if len(run) == 0 {
		return
	}
	res, err := fioRun(fioArgs(run, kd.Path(), size, ms))
	for _, spec := range run {
		engine, w, _ := strings.Cut(spec, ":")
		r, ok := res[spec]
		switch {
		case !ok && err != nil:
			fail("%s %s: %v", engine, w, err)
		case !ok:
			fail("%s %s: not in fio's report", engine, w)
		case r.err != nil:
			fail("%s %s: %v", engine, w, r.err)
		default:
			printf("fio: %s %s mib_s=%.2f iops=%.1f", engine, w, r.mibs, r.iops)
		}
	}
}

// fioResult is one job's figures, or why it has none.
type fioResult struct {
	mibs, iops float64
	err        error
}

// fioRun runs fio once and returns each job's result by name. A job that
// failed (io_uring missing from the kernel, say) has its error; the
// others still count.
func fioRun(args []string) (map[string]fioResult, error) {
	cmd := exec.Command(fioLoader, append([]string{"--library-path", fioRoot + "/lib", fioRoot + "/bin/fio"}, args...)...)
	cmd.Dir = "/"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	out, runErr := cmd.Output()
	// fio may print notes before the report.
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	var r fioReport
	if err := json.Unmarshal(out, &r); err != nil {
		if runErr != nil {
			return nil, fmt.Errorf("%w after %v: %s", runErr, time.Since(t0).Round(time.Millisecond), lastLine(stderr.Bytes(), out))
		}
		return nil, fmt.Errorf("reading fio's report: %w", err)
	}
	res := map[string]fioResult{}
	for _, job := range r.Jobs {
		io := job.Read
		if job.Write.IOBytes > 0 {
			io = job.Write
		}
		switch {
		case job.Error != 0:
			res[job.Name] = fioResult{err: fmt.Errorf("fio: job error %d (%v): %s", job.Error, unix.Errno(job.Error), lastLine(stderr.Bytes(), nil))}
		case io.IOBytes == 0:
			res[job.Name] = fioResult{err: errors.New("fio moved no bytes")}
		default:
			res[job.Name] = fioResult{mibs: io.BWBytes / (1 << 20), iops: io.IOPS}
		}
	}
	return res, runErr
}

// lastLine returns the last non-empty line of a, or of b.
func lastLine(a, b []byte) string {
	for _, t := range [][]byte{a, b} {
		if l := bytes.Split(bytes.TrimSpace(t), []byte("\n")); len(l[len(l)-1]) > 0 {
			return string(l[len(l)-1])
		}
	}
	return "(no output)"
}

// diskDevice returns d's kernel disk.
func diskDevice(d *shell.Disk) (*hosted.KernelDisk, bool) {
	if d == nil {
		return nil, false
	}
	kd, ok := d.Dev.(*hosted.KernelDisk)
	return kd, ok && filepath.Dir(kd.Path()) == "/dev"
}

// parseFioNumber parses a decimal number, with a K, M or G suffix when
// size.
func parseFioNumber(s string, size bool) (int64, error) {
	shift := 0
	if n := len(s); size && n > 0 {
		if i := strings.IndexByte("KMG", s[n-1]&^0x20); i >= 0 {
			s, shift = s[:n-1], 10*(i+1)
		}
	}
	var v int64
	if _, err := fmt.Sscanf(s, "%d", &v); err != nil || v <= 0 || v > 1<<(40-shift) || fmt.Sprint(v) != s {
		return 0, errors.New("not a positive decimal number")
	}
	return v << shift, nil
}
