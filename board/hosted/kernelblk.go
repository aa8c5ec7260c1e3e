//go:build linux && amd64

package hosted

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/virtioblk"
	"github.com/tamaswap/tamaswap/virtio"
)

// The kernel path: for the benchmarks, the hosted guest can
// hand its disks to the guest kernel's own virtio_blk instead of our
// driver, and run the same shell and workloads over /dev/vdX opened with
// O_DIRECT, so that every request goes to the device as the kernel's
// driver makes it, without the page cache in the way.

// KernelPathFlag on the kernel command line selects the kernel path.
const KernelPathFlag = "tamaswap.path=kernel"

// KernelModules are the guest kernel's virtio modules, in the order they
// must load: each depends only on those before it.
var KernelModules = []string{
	"virtio_ring", "virtio", "virtio_mmio",
	"virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
	"virtio_blk",
}

// ModuleDir is where the initramfs keeps the modules, as NAME.ko.
const ModuleDir = "/lib/modules"

// Errors of the kernel path.
var (
	ErrNoKernelDisk = errors.New("hosted: no virtio-blk disk appeared under /dev")
	ErrModule       = errors.New("hosted: loading a kernel module")
)

// KernelPath reports whether a kernel command line selects the kernel
// path.
func KernelPath(cmdline string) bool {
	for _, f := range strings.Fields(cmdline) {
		if f == KernelPathFlag {
			return true
		}
	}
	return false
}

// ReadCmdline returns the kernel command line (/proc/cmdline).
func ReadCmdline() (string, error) { return readCmdline() }

// Platform names the QEMU machine: "microvm", "q35", "pc" or DMI's
// product name. Needs /sys mounted (Init).
func Platform() string { return platform() }

// LoadModules loads dir/NAME.ko for each name, in order, with
// finit_module(2). A module the kernel already has is fine.
func LoadModules(dir string, names ...string) error {
	for _, name := range names {
		if err := loadModule(filepath.Join(dir, name+".ko")); err != nil {
			return fmt.Errorf("%w %s: %w", ErrModule, name, err)
		}
	}
	return nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// OpenKernelDisks waits (up to 5 s: devtmpfs creates the nodes after the
// driver's probe returns) for the virtio-blk disks the kernel found, and
// opens each. Call LoadModules first.
func OpenKernelDisks() ([]*KernelDisk, error) {
	var names []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		names = kernelDiskNames()
		if len(names) > 0 && allNodes(names) || time.Now().After(deadline) {
			break
		}
	}
	if len(names) == 0 {
		return nil, ErrNoKernelDisk
	}
	var disks []*KernelDisk
	for _, n := range names {
		d, err := OpenKernelDisk("/dev/" + n)
		if err != nil {
			for _, d := range disks {
				d.Disconnect()
			}
			return nil, err
		}
		disks = append(disks, d)
	}
	return disks, nil
}

// kernelDiskNames lists the virtio-blk disks in /sys/block (vda, vdb,
// …) in order: vdz comes before vdaa.
func kernelDiskNames() []string {
	ents, _ := os.ReadDir("/sys/block")
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "vd") {
			names = append(names, e.Name())
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if len(names[i]) != len(names[j]) {
			return len(names[i]) < len(names[j])
		}
		return names[i] < names[j]
	})
	return names
}

func allNodes(names []string) bool {
	for _, n := range names {
		if _, err := os.Stat("/dev/" + n); err != nil {
			return false
		}
	}
	return true
}

// KernelDisk is a block.Device over a disk the guest kernel drives: a
// block device node (or, for tests, a regular file) opened with O_DIRECT.
// Every Read and Write is one pread(2) or pwrite(2) per buffer, which the
// kernel turns into requests straight from the buffer's pages, so buffers
// must be aligned: AllocBuffer gives page-aligned memory. Safe for
// concurrent use.
type KernelDisk struct {
	path string
	info block.Info

	mu     sync.RWMutex // held for reading by requests, for writing by Disconnect
	fd     int
	closed bool

	transport, version string
	features           []string
}

// Ioctls of <linux/fs.h>.
const (
	ioctlBLKROGET     = 0x125e
	ioctlBLKSSZGET    = 0x1268
	ioctlBLKGETSIZE64 = 0x80081272
)

// OpenKernelDisk opens path with O_DIRECT: a block device, read-write
// unless the kernel says it is read-only, or a regular file whose size is
// a whole number of 512-byte sectors.
func OpenKernelDisk(path string) (*KernelDisk, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	rw := true
	if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		rw = false
	}
	if err != nil {
		return nil, fmt.Errorf("hosted: open %s: %w", path, err)
	}
	d := &KernelDisk{path: path, fd: fd}
	if err := d.probe(rw); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("hosted: %s: %w", path, err)
	}
	d.describe()
	return d, nil
}

// probe fills in Info.
func (d *KernelDisk) probe(rw bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return err
	}
	d.info.ReadWrite = rw
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		ro, err := unix.IoctlGetInt(d.fd, ioctlBLKROGET)
		if err != nil {
			return fmt.Errorf("BLKROGET: %w", err)
		}
		ss, err := unix.IoctlGetInt(d.fd, ioctlBLKSSZGET)
		if err != nil {
			return fmt.Errorf("BLKSSZGET: %w", err)
		}
		var size uint64
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(d.fd), ioctlBLKGETSIZE64, uintptr(unsafe.Pointer(&size))); e != 0 {
			return fmt.Errorf("BLKGETSIZE64: %w", e)
		}
		if ss < 512 || ss&(ss-1) != 0 || ss > 1<<16 {
			return fmt.Errorf("logical block size %d", ss)
		}
		d.info.ReadWrite = rw && ro == 0
		d.info.SectorSize = ss
		d.info.Sectors = int64(size / uint64(ss))
	case unix.S_IFREG:
		if st.Size%512 != 0 {
			return fmt.Errorf("size %d is not a whole number of sectors", st.Size)
		}
		d.info.SectorSize = 512
		d.info.Sectors = st.Size / 512
	default:
		return errors.New("neither a block device nor a regular file")
	}
	return nil
}

// describe finds, in sysfs, the transport the kernel's virtio device sits
// on and the features its driver negotiated, for the shell's info line.
func (d *KernelDisk) describe() {
	d.transport, d.version = "file", ""
	dev := filepath.Join("/sys/block", filepath.Base(d.path), "device")
	real, err := filepath.EvalSymlinks(dev)
	if err != nil {
		return
	}
	// …/virtio-mmio…/virtioN or …/pci0000:00/0000:00:03.0/virtioN.
	d.transport = "mmio"
	if strings.Contains(real, "/pci") {
		d.transport = "pci"
	}
	// features: one '0' or '1' per feature bit, bit 0 first.
	b, err := os.ReadFile(filepath.Join(dev, "features"))
	if err != nil {
		return
	}
	var set virtio.Features
	for i, c := range strings.TrimSpace(string(b)) {
		if c == '1' && i < 64 {
			set |= 1 << i
		}
	}
	d.version = "legacy"
	if set.Has(virtio.Version1) {
		d.version = "modern"
	}
	d.features = set.Names(virtioblk.FeatureName)
}

// Path returns the device node (or file) the disk was opened from.
func (d *KernelDisk) Path() string { return d.path }

// Transport returns "mmio" or "pci": the transport the kernel drives the
// device over ("file" for a regular file).
func (d *KernelDisk) Transport() string { return d.transport }

// Version returns "modern" or "legacy", as the kernel's driver
// negotiated.
func (d *KernelDisk) Version() string { return d.version }

// FeatureNames returns the features the kernel's driver negotiated, in
// the spec's names, bit order.
func (d *KernelDisk) FeatureNames() []string { return d.features }

// Info implements block.Device.
func (d *KernelDisk) Info() block.Info { return d.info }

// Read implements block.Device.
func (d *KernelDisk) Read(sector int64, bufs ...[]byte) error {
	return d.io("read", sector, bufs, false)
}

// Write implements block.Device.
func (d *KernelDisk) Write(sector int64, bufs ...[]byte) error {
	return d.io("write", sector, bufs, true)
}

func (d *KernelDisk) io(op string, sector int64, bufs [][]byte, write bool) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return block.Errorf(op, sector, block.ErrDisconnected)
	}
	if write && !d.info.ReadWrite {
		return block.Errorf(op, sector, block.ErrReadOnly)
	}
	if _, err := block.CheckRequest(d.info, op, sector, bufs); err != nil {
		return err
	}
	ss := int64(d.info.SectorSize)
	s := sector
	for _, b := range bufs {
		if err := d.transfer(op, s, b, write); err != nil {
			return err
		}
		s += int64(len(b)) / ss
	}
	return nil
}

// transfer moves one buffer. O_DIRECT wants the memory aligned to the
// logical block size as well as the offset and length; a buffer that is
// not (from the Go heap rather than AllocBuffer) goes through an aligned
// copy, the slow path.
func (d *KernelDisk) transfer(op string, sector int64, b []byte, write bool) error {
	align := d.info.SectorSize
	if off := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % uintptr(align)); off != 0 {
		raw := make([]byte, len(b)+align)
		off = int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) % uintptr(align))
		bounce := raw[(align-off)%align:][:len(b)]
		if write {
			copy(bounce, b)
			return d.transfer(op, sector, bounce, write)
		}
		err := d.transfer(op, sector, bounce, write)
		copy(b, bounce)
		return err
	}
	ss := int64(d.info.SectorSize)
	for done := 0; done < len(b); {
		var n int
		var err error
		if write {
			n, err = unix.Pwrite(d.fd, b[done:], sector*ss+int64(done))
		} else {
			n, err = unix.Pread(d.fd, b[done:], sector*ss+int64(done))
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return block.Errorf(op, sector+int64(done)/ss, kernelError(err))
		}
		if n <= 0 || int64(n)%ss != 0 {
			return block.Errorf(op, sector+int64(done)/ss, fmt.Errorf("%w: short transfer of %d bytes", block.ErrIO, n))
		}
		done += n
	}
	return nil
}

// kernelError maps an errno of the block layer to the block errors.
func kernelError(err error) error {
	switch {
	case errors.Is(err, unix.EROFS), errors.Is(err, unix.EPERM), errors.Is(err, unix.EBADF):
		return fmt.Errorf("%w (%v)", block.ErrReadOnly, err)
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w (%v)", block.ErrUnimplemented, err)
	}
	return fmt.Errorf("%w (%v)", block.ErrIO, err)
}

// Flush implements block.Flusher: fdatasync(2), which the kernel's
// virtio_blk turns into VIRTIO_BLK_T_FLUSH.
func (d *KernelDisk) Flush() error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return block.Errorf("flush", 0, block.ErrDisconnected)
	}
	if err := unix.Fdatasync(d.fd); err != nil {
		return block.Errorf("flush", 0, kernelError(err))
	}
	return nil
}

// AllocBuffer implements block.BufferAllocator: anonymous page-aligned
// memory of mmap(2), which O_DIRECT takes without a bounce copy. Give it
// back with FreeBuffer.
func (d *KernelDisk) AllocBuffer(size int) ([]byte, error) {
	if size <= 0 {
		return nil, fmt.Errorf("hosted: AllocBuffer(%d): size must be positive", size)
	}
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("hosted: AllocBuffer(%d): %w", size, err)
	}
	return b, nil
}

// FreeBuffer implements block.BufferFreer. Buffers that AllocBuffer did
// not return are left alone.
func (d *KernelDisk) FreeBuffer(buf []byte) {
	if len(buf) > 0 {
		unix.Munmap(buf[:cap(buf)])
	}
}

// Disconnect implements block.Device: it closes the file once requests
// in progress are done. Later calls fail with block.ErrDisconnected.
func (d *KernelDisk) Disconnect() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return unix.Close(d.fd)
}
