//go:build linux && amd64

package hosted

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tamaswap/tamaswap/board/internal/fence"
	"github.com/tamaswap/tamaswap/virtio"
)

// PCI identifiers of virtio block functions (virtio 1.2 §4.1.2.1).
const (
	pciVendorVirtio      = 0x1af4
	pciDeviceBlockModern = 0x1040 + 2 // 0x1040 + virtio device id
	pciDeviceBlockLegacy = 0x1001     // transitional virtio-blk
)

// Flags of a sysfs resource line (include/linux/ioport.h).
const (
	ioresourceIO  = 0x100
	ioresourceMem = 0x200
)

// PCIDevice is a PCI function reached through Linux sysfs
// (/sys/bus/pci/devices/DOMAIN:BUS:DEV.FN): configuration space through
// the config file, memory BARs by mmap of resourceN, I/O BARs by
// pread/pwrite of resourceN (x86 refuses to mmap I/O ports). It
// implements virtio.PCIFunction. No Linux driver is bound to it: the
// cloud kernel's virtio drivers are modules that never load.
type PCIDevice struct {
	Path     string // its sysfs folder
	Vendor   uint16
	Device   uint16
	config   *os.File
	cfgRegs  fileRegs
	mu       sync.Mutex
	bars     map[int]virtio.Regs
	mappings [][]byte
	files    []*os.File
}

// scanPCI returns the virtio-blk functions sysfs lists, in bus order,
// which is QEMU's -device order when no addr= is given.
func scanPCI(sysfs string) ([]*PCIDevice, error) {
	paths, err := filepath.Glob(filepath.Join(sysfs, "bus/pci/devices/*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var devs []*PCIDevice
	for _, p := range paths {
		vendor, err1 := readHexFile(filepath.Join(p, "vendor"))
		device, err2 := readHexFile(filepath.Join(p, "device"))
		if err := errors.Join(err1, err2); err != nil {
			closePCI(devs)
			return nil, err
		}
		if vendor != pciVendorVirtio || (device != pciDeviceBlockModern && device != pciDeviceBlockLegacy) {
			continue
		}
		d, err := openPCI(p, uint16(vendor), uint16(device))
		if err != nil {
			closePCI(devs)
			return nil, err
		}
		devs = append(devs, d)
	}
	return devs, nil
}

func closePCI(devs []*PCIDevice) {
	for _, d := range devs {
		d.Close()
	}
}

func readHexFile(name string) (uint64, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, fmt.Errorf("hosted: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 0, 64)
	if err != nil {
		return 0, fmt.Errorf("hosted: %s: %w", name, err)
	}
	return v, nil
}

func openPCI(path string, vendor, device uint16) (*PCIDevice, error) {
	// Reading past the first 64 bytes of config (the capability list)
	// needs CAP_SYS_ADMIN, which PID 1 has.
	f, err := os.OpenFile(filepath.Join(path, "config"), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("hosted: %w", err)
	}
	return &PCIDevice{
		Path: path, Vendor: vendor, Device: device,
		config: f, cfgRegs: fileRegs{fd: int(f.Fd()), size: 4096, name: f.Name()},
		bars: make(map[int]virtio.Regs),
	}, nil
}

// Name returns the function's address, e.g. 0000:00:02.0.
func (d *PCIDevice) Name() string { return filepath.Base(d.Path) }

// Legacy reports whether the function is a transitional device.
func (d *PCIDevice) Legacy() bool { return d.Device == pciDeviceBlockLegacy }

// Config returns the configuration space, read and written through the
// sysfs config file at each access's width (Linux turns a 1, 2 or
// 4-byte aligned access into one configuration cycle of that width).
func (d *PCIDevice) Config() virtio.Regs { return &d.cfgRegs }

// BAR maps base address register n. Memory BARs are mmapped (uncached);
// I/O BARs are accessed with pread/pwrite. Repeated calls return the same
// Regs.
func (d *PCIDevice) BAR(n int) (virtio.Regs, error) {
	if n < 0 || n > 5 {
		return nil, fmt.Errorf("hosted: %s: no BAR %d", d.Name(), n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.bars[n]; ok {
		return r, nil
	}
	start, end, flags, err := d.resource(n)
	if err != nil {
		return nil, err
	}
	if end <= start || flags&(ioresourceIO|ioresourceMem) == 0 {
		return nil, fmt.Errorf("hosted: %s: BAR %d is not assigned", d.Name(), n)
	}
	size := end - start + 1
	if size > 1<<31 {
		return nil, fmt.Errorf("hosted: %s: BAR %d is too large (%#x bytes)", d.Name(), n, size)
	}
	name := filepath.Join(d.Path, fmt.Sprintf("resource%d", n))
	f, err := os.OpenFile(name, os.O_RDWR|unix.O_SYNC, 0)
	if err != nil {
		return nil, fmt.Errorf("hosted: %w", err)
	}
	var r virtio.Regs
	if flags&ioresourceIO != 0 {
		r = &fileRegs{fd: int(f.Fd()), size: uint32(size), name: name, io: true}
		d.files = append(d.files, f)
	} else {
		mapLen := (int(size) + unix.Getpagesize() - 1) &^ (unix.Getpagesize() - 1)
		m, err := unix.Mmap(int(f.Fd()), 0, mapLen, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("hosted: mmap %s: %w", name, err)
		}
		d.mappings = append(d.mappings, m)
		w, err := newWindow(m, 0, uint32(size))
		if err != nil {
			return nil, err
		}
		r = w
	}
	d.bars[n] = r
	return r, nil
}

// resource reads line n of the sysfs resource file: start, end, flags.
func (d *PCIDevice) resource(n int) (start, end, flags uint64, err error) {
	f, err := os.Open(filepath.Join(d.Path, "resource"))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("hosted: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for i := 0; s.Scan(); i++ {
		if i != n {
			continue
		}
		_, err := fmt.Sscanf(s.Text(), "%v %v %v", &start, &end, &flags)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("hosted: %s resource line %d: %w", d.Name(), n, err)
		}
		return start, end, flags, nil
	}
	return 0, 0, 0, fmt.Errorf("hosted: %s: no resource line for BAR %d", d.Name(), n)
}

// Close unmaps the BARs and closes the files. The Regs it returned must
// not be used afterwards.
func (d *PCIDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, m := range d.mappings {
		errs = append(errs, unix.Munmap(m))
	}
	for _, f := range d.files {
		errs = append(errs, f.Close())
	}
	if d.config != nil {
		errs = append(errs, d.config.Close())
	}
	d.mappings, d.files, d.config, d.bars = nil, nil, nil, nil
	return errors.Join(errs...)
}

// fileRegs is a register region behind a file that turns each pread or
// pwrite of 1, 2 or 4 bytes into one access of that width: a PCI config
// file, or the resourceN file of an I/O BAR. 64-bit accesses are two
// 32-bit ones, low word first, as the virtio-pci spec allows for its
// 64-bit fields (§4.1.3.1). A failed access reads as all ones and writes
// nothing, as on a PCI bus.
type fileRegs struct {
	fd   int
	size uint32
	name string
	io   bool
}

func (r *fileRegs) read(off uint32, n int) (uint32, bool) {
	if off > r.size || uint32(n) > r.size-off {
		return 0, false
	}
	var b [4]byte
	// The raw system call keeps b on the stack: a register access on the
	// I/O path (a legacy notify) must not allocate.
	got, _, errno := unix.Syscall6(unix.SYS_PREAD64, uintptr(r.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(n), uintptr(off), 0, 0)
	if errno != 0 || int(got) != n {
		return 0, false
	}
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24, true
}

func (r *fileRegs) write(off uint32, n int, v uint32) {
	if off > r.size || uint32(n) > r.size-off {
		return
	}
	b := [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	unix.Syscall6(unix.SYS_PWRITE64, uintptr(r.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(n), uintptr(off), 0, 0)
}

func (r *fileRegs) Read8(off uint32) uint8 {
	v, ok := r.read(off, 1)
	if !ok {
		return 0xff
	}
	return uint8(v)
}

func (r *fileRegs) Read16(off uint32) uint16 {
	v, ok := r.read(off, 2)
	if !ok {
		return 0xffff
	}
	return uint16(v)
}

func (r *fileRegs) Read32(off uint32) uint32 {
	v, ok := r.read(off, 4)
	if !ok {
		return 0xffffffff
	}
	return v
}

func (r *fileRegs) Read64(off uint32) uint64 {
	return uint64(r.Read32(off)) | uint64(r.Read32(off+4))<<32
}

func (r *fileRegs) Write8(off uint32, v uint8)   { r.write(off, 1, uint32(v)) }
func (r *fileRegs) Write16(off uint32, v uint16) { r.write(off, 2, uint32(v)) }
func (r *fileRegs) Write32(off uint32, v uint32) { r.write(off, 4, v) }

// Barrier is virtio.Regs' memory barrier; the pread and pwrite system
// calls that carry the accesses order nothing by contract.
func (r *fileRegs) Barrier(b virtio.Barrier) { fence.Do(b) }

func (r *fileRegs) Write64(off uint32, v uint64) {
	r.write(off, 4, uint32(v))
	r.write(off+4, 4, uint32(v>>32))
}
