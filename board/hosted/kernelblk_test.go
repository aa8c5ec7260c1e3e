//go:build linux && amd64

package hosted

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
)

var (
	_ block.Device          = (*KernelDisk)(nil)
	_ block.Flusher         = (*KernelDisk)(nil)
	_ block.BufferAllocator = (*KernelDisk)(nil)
	_ block.BufferFreer     = (*KernelDisk)(nil)
)

// scratchDisk opens a KernelDisk over a regular file of the test's temp
// folder; it skips where that file system refuses O_DIRECT (tmpfs).
func scratchDisk(t *testing.T, size int64) (*KernelDisk, string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(name, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(name, size); err != nil {
		t.Fatal(err)
	}
	d, err := OpenKernelDisk(name)
	if err != nil {
		if errors.Is(err, os.ErrInvalid) || bytes.Contains([]byte(err.Error()), []byte("invalid argument")) {
			t.Skipf("no O_DIRECT here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Disconnect() })
	return d, name
}

func TestKernelDiskConformance(t *testing.T) {
	d, _ := scratchDisk(t, 1<<20)
	if got := d.Info(); got != (block.Info{ReadWrite: true, SectorSize: 512, Sectors: 2048}) {
		t.Fatalf("Info = %+v", got)
	}
	if err := blocktest.TestDevice(d); err != nil {
		t.Fatal(err)
	}
	if err := blocktest.TestDisconnect(d); err != nil {
		t.Fatal(err)
	}
}

// TestKernelDiskIO checks that data reaches the file at the right offset,
// from DMA-style aligned buffers and from unaligned heap memory.
func TestKernelDiskIO(t *testing.T) {
	d, name := scratchDisk(t, 64<<10)
	buf, err := d.AllocBuffer(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer d.FreeBuffer(buf)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	if err := d.Write(8, buf); err != nil {
		t.Fatal(err)
	}
	heap := make([]byte, 1024+1)[1:] // misaligned on purpose: the bounce path
	copy(heap, bytes.Repeat([]byte{0xa5}, 1024))
	if err := d.Write(2, heap); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file[8*512:8*512+4096], buf) || !bytes.Equal(file[1024:2048], heap) {
		t.Fatal("file contents differ from what was written")
	}
	got := make([]byte, 4096+3)[3:]
	if err := d.Read(8, got); err != nil || !bytes.Equal(got, buf) {
		t.Fatalf("Read = %v, contents equal %v", err, bytes.Equal(got, buf))
	}
	if err := d.Read(127, buf); !errors.Is(err, block.ErrOutOfRange) {
		t.Fatalf("read past the end: %v, want ErrOutOfRange", err)
	}
	if _, err := d.AllocBuffer(0); err == nil {
		t.Fatal("AllocBuffer(0) succeeded")
	}
	d.FreeBuffer(make([]byte, 4096)) // not ours: left alone, no crash
}

func TestKernelDiskReadOnly(t *testing.T) {
	_, name := scratchDisk(t, 8<<10)
	if err := os.Chmod(name, 0o444); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		t.Skip("root opens read-only files read-write")
	}
	d, err := OpenKernelDisk(name)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Disconnect()
	if d.Info().ReadWrite {
		t.Fatal("read-only file opened read-write")
	}
	buf, _ := d.AllocBuffer(512)
	defer d.FreeBuffer(buf)
	if err := d.Write(0, buf); !errors.Is(err, block.ErrReadOnly) {
		t.Fatalf("Write = %v, want ErrReadOnly", err)
	}
}

func TestKernelPath(t *testing.T) {
	for cmdline, want := range map[string]bool{
		"console=ttyS0 tamaswap.path=kernel quiet": true,
		"tamaswap.path=kernel":                     true,
		"tamaswap.path=ours":                       false,
		"xtamaswap.path=kernel":                    false,
		"":                                         false,
	} {
		if got := KernelPath(cmdline); got != want {
			t.Errorf("KernelPath(%q) = %v, want %v", cmdline, got, want)
		}
	}
}

func TestLoadModulesMissing(t *testing.T) {
	err := LoadModules(t.TempDir(), "virtio_ring")
	if !errors.Is(err, ErrModule) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadModules of a missing file = %v", err)
	}
}
