package harness

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestHostTSCkHz(t *testing.T) {
	khz := HostTSCkHz()
	t.Logf("host TSC %d kHz", khz)
	if khz < 100_000 || khz > 10_000_000 {
		t.Errorf("HostTSCkHz() = %d, want a frequency between 100 MHz and 10 GHz", khz)
	}
}

func TestGuestStatus(t *testing.T) {
	for _, c := range []struct {
		qemu, guest int
		err         error
	}{
		{3, 0, nil}, {5, 1, nil}, {2*42 + 3, 42, nil}, {255, 126, nil},
		{0, 0, ErrNoStatus}, {1, 0, ErrQEMU}, {2, 0, ErrQEMU}, {4, 0, ErrQEMU},
	} {
		got, err := GuestStatus(c.qemu)
		if got != c.guest || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("GuestStatus(%d) = %d, %v; want %d, %v", c.qemu, got, err, c.guest, c.err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"128M": 128 << 20, "1G": 1 << 30, "512": 512 << 20, "64k": 64 << 10, "2T": 2 << 40} {
		if got, err := ParseSize(in); got != want || err != nil {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1M", "0", "5X", "1.5G", "99999999999999G"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestDMAWindow(t *testing.T) {
	for _, mem := range []int64{96 << 20, 128 << 20, 512 << 20, 1 << 30, 2 << 30, 8 << 30} {
		addr, size := DMAWindow(mem)
		// Inside RAM below the PCI hole (2 GiB on q35), above the
		// kernel (56 MiB), below the initramfs at the top of RAM.
		if size < 8<<20 || addr < 56<<20 || addr+size > min(mem, 2<<30)-16<<20 || addr%(2<<20) != 0 {
			t.Errorf("DMAWindow(%dM) = %#x+%#x: not inside the free part of RAM", mem>>20, addr, size)
		}
	}
}

type fakeImage struct{}

func (fakeImage) QEMUArgs(opts *Options) ([]string, error) {
	return []string{"-M", "test"}, nil
}

func TestArgs(t *testing.T) {
	for _, c := range []struct {
		opts Options
		want []string // in this order, not necessarily adjacent
		not  []string
	}{
		{Options{Drives: []string{DiskDrive("a,b.img"), "driver=raw,readonly=on"}},
			[]string{"-M", "test", "isa-debug-exit,iobase=0xf4,iosize=0x04", "virtio-mmio.force-legacy=false",
				"file=a,,b.img,format=raw,if=none,id=disk0", "virtio-blk-device,drive=disk0",
				"driver=raw,readonly=on,if=none,id=disk1", "virtio-blk-device,drive=disk1"}, nil},
		{Options{Legacy: true, Drives: []string{"x"}, Extra: []string{"-s"}},
			[]string{"virtio-mmio.force-legacy=true", "virtio-blk-device,drive=disk0", "-s"}, nil},
		{Options{Machine: MachinePCI, Drives: []string{"x"}},
			[]string{"virtio-blk-pci,disable-legacy=on,disable-modern=off,drive=disk0"}, []string{"virtio-mmio.force-legacy=false"}},
		{Options{Machine: MachinePCI, Legacy: true, Drives: []string{"x"}},
			[]string{"virtio-blk-pci,disable-modern=on,disable-legacy=off,drive=disk0"}, []string{"-smp"}},
		// --cpus: cores of one socket (TamaGo counts cores); 1 is the default.
		{Options{CPUs: 2, Drives: []string{"x"}}, []string{"-M", "test", "-smp", "2,sockets=1,cores=2,threads=1", "virtio-blk-device,drive=disk0"}, nil},
		{Options{CPUs: 1, Drives: []string{"x"}}, []string{"virtio-blk-device,drive=disk0"}, []string{"-smp"}},
		{Options{Arch: "arm64", CPUs: 4}, []string{"-smp", "4,sockets=1,cores=4,threads=1"}, nil},
		// arm64: virt's virtio-mmio by default, semihosting for the status.
		{Options{Arch: "arm64", Drives: []string{"x"}},
			[]string{"-M", "test", "-semihosting-config", "enable=on,target=native,userspace=on",
				"virtio-mmio.force-legacy=false", "virtio-blk-device,drive=disk0"},
			[]string{"isa-debug-exit,iobase=0xf4,iosize=0x04"}},
		{Options{Arch: "arm64", Machine: MachinePCI, Legacy: true, Drives: []string{"x"}},
			[]string{"virtio-blk-pci,disable-modern=on,disable-legacy=off,drive=disk0"},
			[]string{"isa-debug-exit,iobase=0xf4,iosize=0x04", "virtio-mmio.force-legacy=true"}},
	} {
		args, err := Args(fakeImage{}, &c.opts)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for _, a := range args {
			if i < len(c.want) && a == c.want[i] {
				i++
			}
		}
		if i < len(c.want) {
			t.Errorf("Args(%+v) = %q: missing %q", c.opts, args, c.want[i])
		}
		for _, n := range c.not {
			if slices.Contains(args, n) {
				t.Errorf("Args(%+v) = %q: has %q", c.opts, args, n)
			}
		}
	}
	if _, err := Args(fakeImage{}, &Options{Machine: "virt"}); err == nil {
		t.Error("Args accepted an unknown machine")
	}
	if _, err := Args(fakeImage{}, &Options{Arch: "arm64", Machine: MachineMicrovm}); err == nil {
		t.Error("Args accepted amd64's microvm on arm64")
	}
	if _, err := Args(fakeImage{}, &Options{Arch: "mips"}); err == nil {
		t.Error("Args accepted an unknown arch")
	}
	// An image knows its arch: it boots there by default, and nowhere else.
	opts := Options{}
	if _, err := Args(archImage{"arm64"}, &opts); err != nil || opts.Arch != "arm64" || opts.Machine != MachineVirt {
		t.Errorf("Args(arm64 image) = %v, arch %q machine %q; want arm64 virt", err, opts.Arch, opts.Machine)
	}
	if _, err := Args(archImage{"arm64"}, &Options{Arch: "amd64"}); err == nil {
		t.Error("Args booted an arm64 image on amd64")
	}
}

type archImage struct{ arch string }

func (i archImage) Arch() string { return i.arch }

func (archImage) QEMUArgs(opts *Options) ([]string, error) { return []string{"-M", "test"}, nil }

func TestExitCode(t *testing.T) {
	for status := 0; status <= MaxStatus; status++ {
		if got, err := GuestStatus(ExitCode(status)); got != status || err != nil {
			t.Fatalf("GuestStatus(ExitCode(%d)) = %d, %v", status, got, err)
		}
	}
}

func TestWriteCPIO(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("skipped: no cpio tool to read the archive back")
	}
	var b bytes.Buffer
	err = writeCPIO(&b, []cpioEntry{
		{name: "dev", mode: modeDir | 0o755},
		{name: "dev/console", mode: modeChar | 0o600, rdev: [2]uint32{5, 1}},
		{name: "init", mode: modeFile | 0o755, data: []byte("#!/bin/sh\necho odd length\n")},
		{name: "a", mode: modeFile | 0o644, data: []byte("xyz")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.Len()%4 != 0 {
		t.Errorf("archive of %d bytes is not padded to 4", b.Len())
	}
	cmd := exec.Command(cpio, "-itv", "--quiet")
	cmd.Stdin = bytes.NewReader(b.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	list := string(out)
	for _, want := range []string{"drwxr-xr-x", "crw-------", "5,", "dev/console", "-rwxr-xr-x", "init", "a\n"} {
		if !strings.Contains(list, want) {
			t.Errorf("cpio -tv lists\n%s\nwithout %q", list, want)
		}
	}
	// Unpack and compare contents (no device nodes: the test may not be root).
	dir := t.TempDir()
	var b2 bytes.Buffer
	writeCPIO(&b2, []cpioEntry{{name: "init", mode: modeFile | 0o755, data: []byte("12345")}, {name: "a", mode: modeFile | 0o644, data: []byte("xyz")}})
	cmd = exec.Command(cpio, "-id", "--quiet")
	cmd.Dir, cmd.Stdin = dir, &b2
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"init": "12345", "a": "xyz"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); string(got) != want || err != nil {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
}
