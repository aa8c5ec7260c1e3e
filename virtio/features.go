package virtio

import "strconv"

// Feature is a feature bit number (§2.2). Bits 0–23 and 50–127 belong to
// the device type; the rest are the transport-independent bits below.
type Feature uint

// Reserved feature bits (§6), with the spec's names.
const (
	NotifyOnEmpty    Feature = 24 // VIRTIO_F_NOTIFY_ON_EMPTY (legacy)
	AnyLayout        Feature = 27 // VIRTIO_F_ANY_LAYOUT (legacy)
	IndirectDesc     Feature = 28 // VIRTIO_F_INDIRECT_DESC
	EventIdx         Feature = 29 // VIRTIO_F_EVENT_IDX
	Version1         Feature = 32 // VIRTIO_F_VERSION_1
	AccessPlatform   Feature = 33 // VIRTIO_F_ACCESS_PLATFORM
	RingPacked       Feature = 34 // VIRTIO_F_RING_PACKED
	InOrder          Feature = 35 // VIRTIO_F_IN_ORDER
	OrderPlatform    Feature = 36 // VIRTIO_F_ORDER_PLATFORM
	SRIOV            Feature = 37 // VIRTIO_F_SR_IOV
	NotificationData Feature = 38 // VIRTIO_F_NOTIFICATION_DATA
	NotifConfigData  Feature = 39 // VIRTIO_F_NOTIF_CONFIG_DATA
	RingReset        Feature = 40 // VIRTIO_F_RING_RESET
)

var featureNames = map[Feature]string{
	NotifyOnEmpty:    "NOTIFY_ON_EMPTY",
	AnyLayout:        "ANY_LAYOUT",
	IndirectDesc:     "INDIRECT_DESC",
	EventIdx:         "EVENT_IDX",
	Version1:         "VERSION_1",
	AccessPlatform:   "ACCESS_PLATFORM",
	RingPacked:       "RING_PACKED",
	InOrder:          "IN_ORDER",
	OrderPlatform:    "ORDER_PLATFORM",
	SRIOV:            "SR_IOV",
	NotificationData: "NOTIFICATION_DATA",
	NotifConfigData:  "NOTIF_CONFIG_DATA",
	RingReset:        "RING_RESET",
}

// String returns the spec's name of a reserved bit without the VIRTIO_F_
// prefix, or "bit N" for a device-type bit.
func (f Feature) String() string {
	if s, ok := featureNames[f]; ok {
		return s
	}
	return "bit " + strconv.Itoa(int(f))
}

// Features is a set of feature bits. Only the first 64 bits exist here:
// no device type this package drives defines higher ones.
type Features uint64

// FeatureSet returns the set of the given bits; bits above 63 are dropped.
func FeatureSet(bits ...Feature) Features {
	var s Features
	for _, b := range bits {
		if b < 64 {
			s |= 1 << b
		}
	}
	return s
}

// Has reports whether bit f is in the set.
func (s Features) Has(f Feature) bool { return f < 64 && s&(1<<f) != 0 }

// Names returns the names of the bits in the set, in bit order. device
// names the device-type bits (it may be nil, or return "" for a bit it
// does not know); unknown bits are "bit N".
func (s Features) Names(device func(Feature) string) []string {
	var names []string
	for f := Feature(0); f < 64; f++ {
		if !s.Has(f) {
			continue
		}
		name := ""
		if _, reserved := featureNames[f]; !reserved && device != nil {
			name = device(f)
		}
		if name == "" {
			name = f.String()
		}
		names = append(names, name)
	}
	return names
}
