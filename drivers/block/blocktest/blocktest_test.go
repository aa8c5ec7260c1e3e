package blocktest_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
)

func TestTestDeviceRestores(t *testing.T) {
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 32})
	for i := range m.Bytes() {
		m.Bytes()[i] = byte(i * 7)
	}
	before := append([]byte(nil), m.Bytes()...)
	if err := blocktest.TestDevice(m); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, m.Bytes()) {
		t.Fatal("TestDevice left the disk changed")
	}
}

// broken devices: the conformance suite must notice each defect.
type rangeless struct{ *block.Mem }

func (d rangeless) Read(sector int64, bufs ...[]byte) error {
	if sector >= d.Info().Sectors || sector < 0 {
		return nil // claims success, transfers nothing
	}
	return d.Mem.Read(sector, bufs...)
}

type unwrapped struct{ *block.Mem }

func (d unwrapped) Write(sector int64, bufs ...[]byte) error {
	if err := d.Mem.Write(sector, bufs...); err != nil {
		return errors.Unwrap(err) // loses the operation and sector
	}
	return nil
}

type partialWriter struct{ *block.Mem }

func (d partialWriter) Write(sector int64, bufs ...[]byte) error {
	// Writes buffers one at a time: a bad later buffer leaves the good
	// first one written.
	for i, b := range bufs {
		if err := d.Mem.Write(sector, b); err != nil {
			return err
		}
		sector += int64(len(b) / d.Info().SectorSize)
		_ = i
	}
	return nil
}

type misplaced struct{ *block.Mem }

func (d misplaced) Write(sector int64, bufs ...[]byte) error {
	if len(bufs) > 1 {
		// Writes the buffers in the wrong order.
		bufs = append([][]byte{bufs[len(bufs)-1]}, bufs[:len(bufs)-1]...)
	}
	return d.Mem.Write(sector, bufs...)
}

type stickyDisconnect struct{ *block.Mem }

func (stickyDisconnect) Disconnect() error { return nil } // never disconnects

func TestConformanceCatchesBrokenDevices(t *testing.T) {
	mem := func() *block.Mem { return block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 32}) }
	for name, dev := range map[string]block.Device{
		"no range check":    rangeless{mem()},
		"unwrapped errors":  unwrapped{mem()},
		"partial writes":    partialWriter{mem()},
		"misplaced buffers": misplaced{mem()},
	} {
		err := blocktest.TestDevice(dev)
		if err == nil {
			t.Errorf("%s: TestDevice passed a broken device", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "blocktest: ") || !strings.Contains(err.Error(), "conformance check(s) failed:\n\t") {
			t.Errorf("%s: error text %q does not list its failures", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if err := blocktest.TestDisconnect(stickyDisconnect{mem()}); err == nil {
		t.Error("TestDisconnect passed a device that never disconnects")
	}
}

// A device's own test runs the suite, then disconnects the device
// through TestDisconnect.
func ExampleTestDevice() {
	disk := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 2048})
	fmt.Println(blocktest.TestDevice(disk))
	fmt.Println(blocktest.TestDisconnect(disk))

	// A device that loses the operation and sector from its errors fails.
	fmt.Println(blocktest.TestDevice(unwrapped{block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 8})}) != nil)
	// Output:
	// <nil>
	// <nil>
	// true
}
