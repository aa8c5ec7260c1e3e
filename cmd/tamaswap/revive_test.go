//go:build linux && (amd64 || arm64)

package main

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
	"github.com/tamaswap/tamaswap/drivers/virtioblk"
	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// switched is a transport whose device can be swapped between calls:
// a disk that stops answering, and after a reset answers again, is a
// silent model (virtiotest.LieSilent) and then an honest one over the
// same backing store.
type switched struct{ virtio.Transport }

// A disk in interrupt mode stops answering: the read waits its timeout,
// fails with an I/O error that says the device broke, and so does the
// next one at once. Once the device answers again, Reidentify starts a
// new driver with the same timeout and interrupts, after the board's
// rewire, and the data written before is read back through the same
// virtioDisk; it passes the block conformance suite.
func TestVirtioDiskRevives(t *testing.T) {
	var disk atomic.Pointer[virtioDisk]
	interrupt := func() {
		if v := disk.Load(); v != nil {
			v.Interrupt()
		}
	}
	store := block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: 32768})
	newModel := func(lie virtiotest.Lie) (*virtiotest.Device, virtio.Transport) {
		m, err := virtiotest.New(virtiotest.Config{Transport: virtiotest.MMIOModern, Disk: store, Lie: lie, LieAfter: 1, OnInterrupt: interrupt})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		tr, err := virtio.NewMMIO(m.MMIO())
		if err != nil {
			t.Fatal(err)
		}
		return m, tr
	}
	silent, silentTr := newModel(virtiotest.LieSilent)
	honest, honestTr := newModel(virtiotest.Honest)
	m := &switched{silentTr}
	dma := silent.DMA()
	rewires := 0
	v, err := newVirtioDisk(func() (*virtioblk.Device, error) { return virtioblk.New(m, dma) },
		func() error { rewires++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	disk.Store(v)
	var _ block.Device = v
	v.UseInterrupts(true)
	const timeout = 100 * time.Millisecond
	v.SetTimeout(timeout)

	data := bytes.Repeat([]byte{0xa5}, 4096)
	if err := v.Write(8, data); err != nil {
		t.Fatal(err)
	}
	// The silent model answered the write; it answers nothing more.
	buf := make([]byte, 4096)
	start := time.Now()
	err = v.Read(8, buf)
	waited := time.Since(start)
	if !errors.Is(err, block.ErrIO) || !errors.Is(err, virtio.ErrDeviceBroken) {
		t.Fatalf("read from a silent device: %v, want an I/O error wrapping ErrDeviceBroken", err)
	}
	t.Logf("after %v: %v", waited, err)
	if waited < timeout || waited > timeout+2*time.Second {
		t.Errorf("the read failed after %v, want the timeout %v", waited, timeout)
	}
	if !v.Gone() {
		t.Error("Gone is false after the device broke")
	}
	start = time.Now()
	if err := v.Read(8, buf); !errors.Is(err, virtio.ErrDeviceBroken) || time.Since(start) > timeout/2 {
		t.Errorf("read on the broken device: %v after %v, want ErrDeviceBroken at once", err, time.Since(start))
	}

	old := v.Device()
	m.Transport, dma = honestTr, honest.DMA()
	irqs := honest.Interrupts()
	if err := v.Reidentify(); err != nil {
		t.Fatalf("Reidentify: %v", err)
	}
	if v.Gone() || v.Device() == old || rewires != 1 {
		t.Errorf("after Reidentify: gone %v, same driver %v, %d rewires", v.Gone(), v.Device() == old, rewires)
	}
	if err := v.Read(8, buf); err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("read after Reidentify: %v, data back %v", err, bytes.Equal(buf, data))
	}
	if honest.Interrupts() == irqs {
		t.Error("the new driver completed its read without an interrupt")
	}
	// The timeout carries over: a driver started on a device that
	// falls silent fails after it, not after the default.
	silent2, silent2Tr := newModel(virtiotest.LieSilent)
	m.Transport, dma = silent2Tr, silent2.DMA()
	if err := v.Reidentify(); err != nil {
		t.Fatal(err)
	}
	if err := v.Read(0, buf); err != nil { // the one request it answers
		t.Fatal(err)
	}
	start = time.Now()
	if err := v.Read(0, buf); !errors.Is(err, virtio.ErrDeviceBroken) || time.Since(start) > timeout+2*time.Second {
		t.Errorf("read on a driver found again on a silent device: %v after %v, want the %v timeout", err, time.Since(start), timeout)
	}
	m.Transport, dma = honestTr, honest.DMA()
	if err := v.Reidentify(); err != nil {
		t.Fatal(err)
	}
	v.SetTimeout(0)
	if err := blocktest.TestDevice(v); err != nil {
		t.Error(err)
	}
	if err := v.Disconnect(); err != nil {
		t.Error(err)
	}
	if err := v.Reidentify(); !errors.Is(err, block.ErrDisconnected) {
		t.Errorf("Reidentify after Disconnect: %v, want ErrDisconnected", err)
	}
}

// A device that ignores the reset after its timeout is quarantined and
// not probed again: it may still write what it was lent.
func TestVirtioDiskQuarantinedStaysGone(t *testing.T) {
	model, err := virtiotest.New(virtiotest.Config{Transport: virtiotest.MMIOModern, Lie: virtiotest.LieIgnoreReset, LieAfter: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	tr, err := virtio.NewMMIO(model.MMIO())
	if err != nil {
		t.Fatal(err)
	}
	opens := 0
	v, err := newVirtioDisk(func() (*virtioblk.Device, error) { opens++; return virtioblk.New(tr, model.DMA()) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.SetTimeout(20 * time.Millisecond)
	v.Device().SetResetLimit(20 * time.Millisecond)
	buf := make([]byte, 512)
	if err := v.Read(0, buf); err != nil {
		t.Fatal(err)
	}
	if err := v.Read(0, buf); !errors.Is(err, virtio.ErrDeviceBroken) {
		t.Fatalf("read held by the device: %v", err)
	}
	if err := v.Reidentify(); err == nil || opens != 1 {
		t.Errorf("Reidentify of a quarantined device: %v after %d opens, want an error and no new open", err, opens)
	} else {
		t.Log(err)
	}
	if !v.Gone() {
		t.Error("a quarantined disk is not gone")
	}
}
