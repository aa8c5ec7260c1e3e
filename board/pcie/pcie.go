// Package pcie enumerates a PCI Express host bridge through its ECAM
// configuration space (PCI Express Base Specification §7.2.2, "Enhanced
// Configuration Access Mechanism") and assigns its functions' BARs itself,
// for machines that boot without firmware that would do it (QEMU microvm
// with pcie=on), or whose VMM places BARs where the program has no
// mapping (Cloud Hypervisor). Each function it finds is a
// virtio.PCIFunction.
//
// It touches hardware only through the Map functions its caller supplies,
// so it runs on the host against a fake configuration space in tests.
package pcie

import (
	"errors"
	"fmt"

	"github.com/tamaswap/tamaswap/virtio"
)

// Type 0 configuration space header (PCI Local Bus Specification 3.0 §6.1).
const (
	cfgVendorID   = 0x00
	cfgDeviceID   = 0x02
	cfgCommand    = 0x04
	cfgClass      = 0x08 // revision ID in the low byte
	cfgHeaderType = 0x0e
	cfgBAR0       = 0x10

	cmdIO     = 1 << 0
	cmdMemory = 1 << 1

	headerMultiFunction = 1 << 7
	headerTypeMask      = 0x7f

	barIO        = 1 << 0 // I/O space indicator (§6.2.5.1)
	barType64    = 0b10 << 1
	barTypeMask  = 0b11 << 1
	barMemMask   = ^uint32(0xf)
	barIOMask    = ^uint32(0x3)
	ecamFuncSize = 4096
)

// Errors of BAR.
var (
	ErrNoBAR       = errors.New("pcie: BAR not implemented")
	ErrNoIOWindow  = errors.New("pcie: I/O BAR but the host bridge has no I/O window")
	ErrNoSpace     = errors.New("pcie: BAR does not fit in the host bridge's window")
	ErrNotAssigned = errors.New("pcie: BARs of this function are not assigned by this host")
)

// Host is a PCI Express host bridge as the platform describes it.
type Host struct {
	// ECAMBase is the physical address of bus 0 device 0 function 0's
	// configuration space; Buses is how many buses the ECAM window
	// covers (1 MiB each).
	ECAMBase uint64
	Buses    int
	// MemBase and MemSize are the memory window BARs go in. A 32-bit
	// BAR only takes addresses below 4 GiB; a window above that holds
	// 64-bit BARs only.
	MemBase, MemSize uint64
	// IOBase and IOSize are the I/O port window; IOSize 0 means the
	// bridge has none (microvm), and I/O BARs stay unassigned.
	IOBase, IOSize uint32

	// MapMem returns register access to size bytes of physical memory.
	MapMem func(addr uint64, size uint32) virtio.Regs
	// MapIO returns register access to size I/O ports; nil when IOSize
	// is 0.
	MapIO func(port uint16, size uint32) virtio.Regs
	// Assign, when set, picks the functions whose BARs Scan sizes and
	// places: the others keep what the VMM or firmware gave them,
	// untouched, and their BAR method returns ErrNotAssigned. When nil,
	// Scan assigns every function's BARs.
	Assign func(vendor, device uint16) bool

	nextMem uint64
	nextIO  uint32
}

// Function is one PCI function with its BARs assigned.
type Function struct {
	Bus, Device, Func  uint8
	VendorID, DeviceID uint16
	// Class is the class code, subclass and programming interface.
	Class uint32

	host *Host
	cfg  virtio.Regs
	bars [6]bar
}

type bar struct {
	io   bool
	addr uint64
	size uint64
	err  error // why the BAR has no address
}

// Config is the function's 4096-byte configuration space.
func (f *Function) Config() virtio.Regs { return f.cfg }

// String names the function as bus:device.function vendor:device.
func (f *Function) String() string {
	return fmt.Sprintf("%02x:%02x.%d %04x:%04x", f.Bus, f.Device, f.Func, f.VendorID, f.DeviceID)
}

// BAR returns access to base address register n's region.
func (f *Function) BAR(n int) (virtio.Regs, error) {
	if n < 0 || n >= len(f.bars) {
		return nil, fmt.Errorf("%w: BAR%d of %v", ErrNoBAR, n, f)
	}
	b := f.bars[n]
	if b.err != nil {
		return nil, fmt.Errorf("BAR%d of %v: %w", n, f, b.err)
	}
	if b.io {
		return f.host.MapIO(uint16(b.addr), uint32(b.size)), nil
	}
	return f.host.MapMem(b.addr, uint32(b.size)), nil
}

// BARAddr reports where BAR n was placed and its size (0 when it was not).
func (f *Function) BARAddr(n int) (addr, size uint64, io bool) {
	if n < 0 || n >= len(f.bars) || f.bars[n].err != nil {
		return 0, 0, false
	}
	return f.bars[n].addr, f.bars[n].size, f.bars[n].io
}

// Scan enumerates bus 0 (every device and, for multi-function devices,
// every function), sizes and assigns each type 0 function's BARs from the
// windows, and returns the functions in bus order: the order in which
// QEMU's command line placed them. Bridges are not followed: on microvm
// every device is an integrated endpoint on bus 0. A BAR that cannot be
// placed is reported by Function.BAR; Scan itself fails only on a bad
// Host.
func (h *Host) Scan() ([]*Function, error) {
	if h.MapMem == nil || h.Buses < 1 || h.MemSize == 0 {
		return nil, errors.New("pcie: host bridge without ECAM mapping or memory window")
	}
	h.nextMem, h.nextIO = h.MemBase, h.IOBase
	var fns []*Function
	for dev := uint8(0); dev < 32; dev++ {
		for fn := uint8(0); fn < 8; fn++ {
			cfg := h.MapMem(h.ECAMBase+uint64(dev)<<15|uint64(fn)<<12, ecamFuncSize)
			vendor := cfg.Read16(cfgVendorID)
			if vendor == 0xffff || vendor == 0 {
				if fn == 0 {
					break // no device: no other functions either
				}
				continue
			}
			header := cfg.Read8(cfgHeaderType)
			f := &Function{
				Device: dev, Func: fn,
				VendorID: vendor, DeviceID: cfg.Read16(cfgDeviceID),
				Class: cfg.Read32(cfgClass) >> 8,
				host:  h, cfg: cfg,
			}
			switch {
			case header&headerTypeMask != 0:
				f.setBARErr(ErrNoBAR)
			case h.Assign != nil && !h.Assign(f.VendorID, f.DeviceID):
				f.setBARErr(ErrNotAssigned)
			default:
				h.assignBARs(f)
			}
			fns = append(fns, f)
			if fn == 0 && header&headerMultiFunction == 0 {
				break
			}
		}
	}
	return fns, nil
}

func (f *Function) setBARErr(err error) {
	for i := range f.bars {
		f.bars[i].err = err
	}
}

// assignBARs sizes each BAR (write all ones, read back the writable bits,
// §6.2.5.1) with decoding off, and places it naturally aligned in the
// matching window.
func (h *Host) assignBARs(f *Function) {
	cfg := f.cfg
	cmd := cfg.Read16(cfgCommand)
	cfg.Write16(cfgCommand, cmd&^(cmdIO|cmdMemory))
	defer cfg.Write16(cfgCommand, cmd)

	for i := 0; i < len(f.bars); i++ {
		off := uint32(cfgBAR0 + 4*i)
		orig := cfg.Read32(off)
		cfg.Write32(off, 0xffffffff)
		probe := cfg.Read32(off)
		b := &f.bars[i]
		if probe == 0 {
			cfg.Write32(off, orig)
			b.err = ErrNoBAR
			continue
		}
		if orig&barIO != 0 {
			b.io = true
			b.size = uint64(^(probe&barIOMask)&0xffff) + 1
			if h.IOSize == 0 || h.MapIO == nil {
				cfg.Write32(off, 0)
				b.err = ErrNoIOWindow
				continue
			}
			a := alignUp(uint64(h.nextIO), b.size)
			if a+b.size > uint64(h.IOBase)+uint64(h.IOSize) {
				cfg.Write32(off, 0)
				b.err = ErrNoSpace
				continue
			}
			cfg.Write32(off, uint32(a))
			b.addr = a
			h.nextIO = uint32(a + b.size)
			continue
		}
		is64 := orig&barTypeMask == barType64 && i+1 < len(f.bars)
		size := uint64(^(probe & barMemMask)) + 1
		mask := uint64(0xffffffff)
		if is64 {
			hiOff := off + 4
			hiOrig := cfg.Read32(hiOff)
			cfg.Write32(hiOff, 0xffffffff)
			hi := cfg.Read32(hiOff)
			cfg.Write32(hiOff, hiOrig)
			full := uint64(hi)<<32 | uint64(probe&barMemMask)
			size = ^full + 1
			mask = ^uint64(0)
			f.bars[i+1].err = fmt.Errorf("%w: upper half of 64-bit BAR%d", ErrNoBAR, i)
		}
		size &= mask
		a := alignUp(h.nextMem, size)
		if size == 0 || size > 1<<31 || a+size > h.MemBase+h.MemSize || !is64 && a+size > 1<<32 {
			cfg.Write32(off, 0)
			b.err = fmt.Errorf("%w: %d bytes", ErrNoSpace, size)
			if is64 {
				i++
			}
			continue
		}
		cfg.Write32(off, uint32(a))
		if is64 {
			cfg.Write32(off+4, uint32(a>>32))
			i++
		}
		b.addr, b.size = a, size
		h.nextMem = a + size
	}
}

func alignUp(v, a uint64) uint64 {
	if a == 0 {
		return v
	}
	return (v + a - 1) &^ (a - 1)
}

// VirtioVendorID is the PCI vendor ID of virtio devices (virtio 1.2 §4.1.2).
const VirtioVendorID = 0x1af4

// VirtioTransports returns a virtio transport for each virtio function in
// fns whose device type is devType, in fns' order. Virtio functions that
// could not be set up are reported in err, each naming its function; the
// others are still returned.
func VirtioTransports(fns []*Function, devType uint32) (ts []virtio.Transport, err error) {
	var errs []error
	for _, f := range fns {
		if f.VendorID != VirtioVendorID {
			continue
		}
		t, err := virtio.NewPCI(f)
		if err != nil {
			if !errors.Is(err, virtio.ErrNoDevice) {
				errs = append(errs, fmt.Errorf("pci %v: %w", f, err))
			}
			continue
		}
		if t.DeviceID() == devType {
			ts = append(ts, t)
		}
	}
	return ts, errors.Join(errs...)
}
