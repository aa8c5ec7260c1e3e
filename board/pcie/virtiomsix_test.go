package pcie

import (
	"slices"
	"testing"
)

func TestLayoutVirtioMSIX(t *testing.T) {
	for _, tc := range []struct {
		queues, table, vectors int
		entries                int
		queue                  []uint16
	}{
		{1, 2, 16, 1, []uint16{0}},          // one queue: config and queue share
		{1, 1, 1, 1, []uint16{0}},           // a one-entry table
		{4, 5, 16, 5, []uint16{1, 2, 3, 4}}, // one entry each
		{4, 64, 5, 5, []uint16{1, 2, 3, 4}}, // exactly enough CPU vectors
		{4, 4, 16, 1, []uint16{0, 0, 0, 0}}, // table one entry short
		{4, 5, 4, 1, []uint16{0, 0, 0, 0}},  // CPU vectors one short
		{2, 3, 16, 3, []uint16{1, 2}},       // QEMU's default for num-queues=2
	} {
		v, err := LayoutVirtioMSIX(tc.queues, tc.table, tc.vectors)
		if err != nil {
			t.Fatalf("%d queues, table %d, %d vectors: %v", tc.queues, tc.table, tc.vectors, err)
		}
		if v.Config != 0 || v.Entries != tc.entries || !slices.Equal(v.Queues, tc.queue) || v.PerQueue() != (tc.entries > 1) {
			t.Errorf("%d queues, table %d, %d vectors: %+v, want config 0, %d entries, queues %v",
				tc.queues, tc.table, tc.vectors, v, tc.entries, tc.queue)
		}
		for _, e := range v.Queues {
			if int(e) >= v.Entries || int(e) >= tc.table {
				t.Errorf("%+v: queue entry %d outside the %d used, table %d", v, e, v.Entries, tc.table)
			}
		}
	}
	for _, bad := range [][3]int{{0, 4, 4}, {1, 0, 4}, {1, 4, 0}} {
		if _, err := LayoutVirtioMSIX(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("LayoutVirtioMSIX%v: no error", bad)
		}
	}
}
