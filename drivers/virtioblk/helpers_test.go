package virtioblk

import (
	"fmt"
	"testing"

	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// transport is a model transport, whether the model offers packed
// virtqueues on it (VIRTIO_F_RING_PACKED, which the driver then takes),
// and how many request queues it serves (VIRTIO_BLK_F_MQ above 1).
type transport struct {
	virtiotest.Transport
	packed bool
	queues int
}

func (t transport) String() string {
	s := t.Transport.String()
	if t.packed {
		s += "-packed"
	}
	if t.queues > 1 {
		s += fmt.Sprintf("-mq%d", t.queues)
	}
	return s
}

// transports are the model's four transports with split queues and one
// request queue, the two modern ones again with packed queues, and with
// several queues: mmio and pci, split and packed, modern and legacy
// (every transport with MQ would double the suite's time).
var transports = []transport{
	{virtiotest.MMIOModern, false, 1}, {virtiotest.MMIOLegacy, false, 1},
	{virtiotest.PCIModern, false, 1}, {virtiotest.PCILegacy, false, 1},
	{virtiotest.MMIOModern, true, 1}, {virtiotest.PCIModern, true, 1},
	{virtiotest.PCIModern, false, 2}, {virtiotest.MMIOLegacy, false, 3},
	{virtiotest.MMIOModern, true, 2}, {virtiotest.PCIModern, true, 4},
}

// testCPUs is the processor count the tests let the driver see, so that
// it sets up as many queues as the model offers on any machine.
const testCPUs = 8

func init() { numCPU = func() int { return testCPUs } }

// attach finds the model's transport as a board would.
func attach(m *virtiotest.Device, tr virtiotest.Transport) (virtio.Transport, error) {
	switch tr {
	case virtiotest.MMIOModern, virtiotest.MMIOLegacy:
		return virtio.NewMMIO(m.MMIO())
	default:
		return virtio.NewPCI(m.PCI())
	}
}

// open starts a device model and the driver over it; both are closed at
// the end of the test.
func open(tb testing.TB, cfg virtiotest.Config) (*Device, *virtiotest.Device) {
	tb.Helper()
	d, m, err := tryOpen(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		d.Disconnect()
		m.Close()
	})
	return d, m
}

func tryOpen(cfg virtiotest.Config) (*Device, *virtiotest.Device, error) {
	m, err := virtiotest.New(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	t, err := attach(m, cfg.Transport)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("transport: %w", err)
	}
	d, err := New(t, m.DMA())
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("New: %w", err)
	}
	return d, m, nil
}

// offered returns every feature the model implements on tr.
func offered(tb testing.TB, tr transport) uint64 {
	tb.Helper()
	m, err := virtiotest.New(virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, Sync: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	o, _ := m.Features()
	return o
}

func bit(f virtio.Feature) uint64 { return 1 << f }

// modelClean reports register accesses the model ignored and requests it
// failed for breaking seg_max or size_max: the driver must cause neither.
func modelClean(tb testing.TB, m *virtiotest.Device) {
	tb.Helper()
	if n := m.BadAccesses(); n != 0 {
		tb.Errorf("%d bad register accesses, last %s", n, m.LastBadAccess())
	}
	if n := m.LimitErrors(); n != 0 {
		tb.Errorf("%d requests broke seg_max/size_max", n)
	}
	if f := m.Fault(); f != "" {
		tb.Errorf("device fault: %s", f)
	}
}
