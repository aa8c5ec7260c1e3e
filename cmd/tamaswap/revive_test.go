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

// muted is a transport whose notifications do not reach the device while
// mute is set: the device stops answering, and answers again after a
// reset once mute is cleared, as a throttled QEMU disk does.
type muted struct {
	virtio.Transport
	mute atomic.Bool
}

func (m *muted) Notify(q uint16) {
	if !m.mute.Load() {
		m.Transport.Notify(q)
	}
}

// A disk in interrupt mode stops answering: the read waits its timeout,
// fails with an I/O error that says the device broke, and so does the
// next one at once. Once the device answers again, Reidentify starts a
// new driver with the same timeout and interrupts, after the board's
// rewire, and the data written before is read back through the same
// virtioDisk; it passes the block conformance suite.
func TestVirtioDiskRevives(t *testing.T) {
	var disk atomic.Pointer[virtioDisk]
	model, err := virtiotest.New(virtiotest.Config{Transport: virtiotest.MMIOModern, OnInterrupt: func() {
		if v := disk.Load(); v != nil {
			v.Interrupt()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	tr, err := virtio.NewMMIO(model.MMIO())
	if err != nil {
		t.Fatal(err)
	}
	m := &muted{Transport: tr}
	rewires := 0
	v, err := newVirtioDisk(func() (*virtioblk.Device, error) { return virtioblk.New(m, model.DMA()) },
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
	m.mute.Store(true)
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
	m.mute.Store(false)
	irqs := model.Interrupts()
	if err := v.Reidentify(); err != nil {
		t.Fatalf("Reidentify: %v", err)
	}
	if v.Gone() || v.Device() == old || rewires != 1 {
		t.Errorf("after Reidentify: gone %v, same driver %v, %d rewires", v.Gone(), v.Device() == old, rewires)
	}
	if err := v.Read(8, buf); err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("read after Reidentify: %v, data back %v", err, bytes.Equal(buf, data))
	}
	if model.Interrupts() == irqs {
		t.Error("the new driver completed its read without an interrupt")
	}
	// The new driver has the timeout: silence again fails after it.
	m.mute.Store(true)
	start = time.Now()
	if err := v.Read(8, buf); !errors.Is(err, virtio.ErrDeviceBroken) || time.Since(start) > timeout+2*time.Second {
		t.Errorf("second silence: %v after %v", err, time.Since(start))
	}
	m.mute.Store(false)
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
