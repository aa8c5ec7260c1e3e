package virtio

// MMIOSlots finds the virtio-mmio devices of type devType among a
// machine's n transport windows, slot(i) being window i. It probes from
// the last window down, the order in which QEMU fills them with the
// command line's -device arguments, so the result is in command-line
// order. Only registers are read (§4.2.2: magic value, version, device
// ID); a window that answers otherwise is skipped.
func MMIOSlots(n int, slot func(i int) Regs, devType uint32) []Transport {
	var ts []Transport
	for i := n - 1; i >= 0; i-- {
		t, err := NewMMIO(slot(i))
		if err != nil || t.DeviceID() != devType {
			continue
		}
		ts = append(ts, t)
	}
	return ts
}
