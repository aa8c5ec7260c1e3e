package virtio

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Device status bits (§2.1).
const (
	StatusAcknowledge      uint8 = 1
	StatusDriver           uint8 = 2
	StatusDriverOK         uint8 = 4
	StatusFeaturesOK       uint8 = 8
	StatusDeviceNeedsReset uint8 = 64
	StatusFailed           uint8 = 128
)

// Errors a device can cause.
var (
	// ErrDeviceBroken means the device wrote something impossible (a used
	// ring entry or index the driver never made possible, an unknown
	// status value) or refused initialisation. The driver resets it and
	// refuses further requests.
	ErrDeviceBroken = errors.New("virtio: device broken")
	// ErrNeedsReset means the device set DEVICE_NEEDS_RESET (§2.1.1).
	ErrNeedsReset = errors.New("virtio: device needs reset")
	// ErrNoDevice means the register region holds no usable virtio
	// device: a wrong magic value or vendor, an unknown version, or an
	// empty virtio-mmio slot (device ID 0).
	ErrNoDevice = errors.New("virtio: no device")
)

// DefaultResetLimit is how long Reset waits for a device to acknowledge
// a reset.
const DefaultResetLimit = time.Second

// Reset writes 0 to device status and waits until the device reads back
// 0, which it does once the reset is complete (§2.1.2, §4.1.4.3.2), for
// at most DefaultResetLimit.
func Reset(t Transport) error { return ResetWithin(t, DefaultResetLimit) }

// ResetWithin is Reset with a limit of its own. An error means the
// device has not shown that it stopped: it may still use the rings and
// the buffers it was given.
func ResetWithin(t Transport, limit time.Duration) error {
	t.SetStatus(0)
	deadline := time.Now().Add(limit)
	for i := 0; t.Status() != 0; i++ {
		if i%64 == 63 && time.Now().After(deadline) {
			return fmt.Errorf("%w: status %#x after reset", ErrDeviceBroken, t.Status())
		}
		runtime.Gosched()
	}
	return nil
}

// Init performs steps 1 to 6 of device initialisation (§3.1.1): reset,
// ACKNOWLEDGE, DRIVER, feature negotiation and, for modern devices,
// FEATURES_OK written and read back. It returns the negotiated features:
// those the device offers and supported contains. A modern device must
// offer VERSION_1 and supported must contain it. A legacy device skips
// FEATURES_OK (§3.1.2) and negotiates only bits 0–31. On error the device
// is left with FAILED set.
func Init(t Transport, supported Features) (Features, error) {
	if err := Reset(t); err != nil {
		Fail(t)
		return 0, err
	}
	status := StatusAcknowledge
	t.SetStatus(status)
	status |= StatusDriver
	t.SetStatus(status)

	offered := t.DeviceFeatures()
	want := offered & supported
	if t.Legacy() {
		want &= 0xffffffff
	} else if !want.Has(Version1) {
		Fail(t)
		return 0, fmt.Errorf("%w: modern device without VERSION_1 (offers %#x)", ErrDeviceBroken, uint64(offered))
	}
	t.SetDriverFeatures(want)
	if t.Legacy() {
		return want, nil
	}
	status |= StatusFeaturesOK
	t.SetStatus(status)
	if s := t.Status(); s&StatusFeaturesOK == 0 {
		Fail(t)
		return 0, fmt.Errorf("%w: FEATURES_OK not accepted (status %#x, features %#x)", ErrDeviceBroken, s, uint64(want))
	}
	return want, nil
}

// Ready sets DRIVER_OK (step 8 of §3.1.1) once the queues are set up,
// and checks that the device accepted it.
func Ready(t Transport) error {
	s := t.Status()
	t.SetStatus(s | StatusDriverOK)
	return CheckStatus(t)
}

// CheckStatus reads device status and reports DEVICE_NEEDS_RESET as
// ErrNeedsReset and FAILED, or a cleared DRIVER_OK, as ErrDeviceBroken.
func CheckStatus(t Transport) error {
	s := t.Status()
	switch {
	case s&StatusDeviceNeedsReset != 0:
		return fmt.Errorf("%w (status %#x)", ErrNeedsReset, s)
	case s&StatusFailed != 0 || s&StatusDriverOK == 0:
		return fmt.Errorf("%w: status %#x", ErrDeviceBroken, s)
	}
	return nil
}

// Fail sets FAILED: the driver has given up on the device (§2.1).
func Fail(t Transport) {
	t.SetStatus(t.Status() | StatusFailed)
}
