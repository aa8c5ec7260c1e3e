package shell

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tamaswap/tamaswap/drivers/partition"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

// partState is what the shell keeps about partitions: on a whole disk,
// the partitions `use NpK` opened and the swap space found on it; on a
// partition, the disk it lies on. A partition is a *disk of its own, so
// it has its own swap managers, and the space a whole disk's swap found
// is the same *disk as `use NpK` gives: one manager per space.
type partState struct {
	parent  *disk         // a partition: its disk; nil on a whole disk
	index   int           // a partition: its number (from 1)
	parts   map[int]*disk // a whole disk: partitions opened so far
	space   *disk         // a whole disk: its swap space once found (itself or a partition)
	checked bool          // a partition: swapfs.FindSpace accepted it
}

// label names a disk as use does: "N" or "NpK".
func (d *disk) label() string {
	if d.parent != nil {
		return fmt.Sprintf("%dp%d", d.parent.n, d.index)
	}
	return strconv.Itoa(d.n)
}

// selected returns the disk or partition later commands act on.
func (s *shell) selected() *disk {
	if s.part != nil {
		return s.part
	}
	return s.disks[s.cur]
}

// partLines prints d's partitions, one `part:` line each, after its
// `info:` line. It reads the table (info does; the banner does not).
func (s *shell) partLines(d *disk) {
	if d.Dev == nil {
		return
	}
	t, err := partition.Read(d.Dev)
	if err != nil {
		s.printf("part: disk=%d error: %s", d.n, oneLine(err.Error()))
		return
	}
	if t.Backup {
		s.printf("part: disk=%d backup: GPT read from the backup header at LBA %d, not repaired; the primary: %s",
			d.n, t.HeaderLBA, oneLine(t.PrimaryErr.Error()))
	}
	for _, e := range t.Partitions {
		s.printf("part: disk=%d index=%d type=%s start=%d sectors=%d", d.n, e.Index, e.TypeName(), e.Start, e.Sectors)
	}
}

// usePartition selects partition K of disk N ("NpK").
func (s *shell) usePartition(spec string) {
	ns, ks, _ := strings.Cut(spec, "p")
	n, err := parseUint("disk", ns, math.MaxInt)
	if err == nil && n >= int64(len(s.disks)) {
		err = fmt.Errorf("disk %d: %w (%d disks)", n, errRange, len(s.disks))
	}
	var k int64
	if err == nil {
		k, err = parseUint("partition", ks, math.MaxInt32)
		if err == nil && k == 0 {
			err = fmt.Errorf("partition 0: %w (partitions count from 1)", errRange)
		}
	}
	if err != nil {
		s.fail("use", err)
		return
	}
	d := s.disks[n]
	if d.Dev == nil {
		s.printf("use: error: disk %d has no device", d.n)
		return
	}
	p, err := s.openPartition(d, int(k), nil)
	if err != nil {
		s.fail("use", err)
		return
	}
	s.cur, s.part = int(n), p
	s.printf("use: disk=%s", p.label())
}

// openPartition returns partition k of d, opening it (from dev when
// given, else from d's table) the first time.
func (s *shell) openPartition(d *disk, k int, dev *partition.Device) (*disk, error) {
	if p := d.parts[k]; p != nil {
		return p, nil
	}
	if dev == nil {
		t, err := partition.Read(d.Dev)
		if err != nil {
			return nil, err
		}
		if t.Scheme == partition.None {
			return nil, fmt.Errorf("disk %d has no partition table", d.n)
		}
		if dev, err = t.Open(d.Dev, k); err != nil {
			var have []string
			for _, e := range t.Partitions {
				have = append(have, strconv.Itoa(e.Index))
			}
			return nil, fmt.Errorf("disk %d has no partition %d (its %s table has: %s)", d.n, k, t.Scheme, strings.Join(have, ", "))
		}
	}
	p := &disk{Disk: d.Disk, n: d.n, active: -1}
	p.Dev = dev
	p.parent, p.index = d, k
	if d.parts == nil {
		d.parts = map[int]*disk{}
	}
	d.parts[k] = p
	return p, nil
}

// swapSpace returns the disk or partition d's swap uses: on a partition
// d itself, if swapfs.FindSpace accepts it (its type is Linux swap); on a
// whole disk what FindSpace finds there, its swap partition or the disk
// whole, said once on a `swap:` line when it is a partition. force uses d
// whole whatever it holds (swaptest --force); it matters only until a
// space is found.
func (s *shell) swapSpace(d *disk, force bool) (*disk, error) {
	var opts []swapfs.SpaceOption
	if force {
		opts = append(opts, swapfs.ForceWhole())
	}
	if d.parent != nil {
		if !d.checked {
			if _, err := swapfs.FindSpace(d.Dev, opts...); err != nil {
				return nil, err
			}
			d.checked = true
		}
		return d, nil
	}
	if d.space != nil {
		return d.space, nil
	}
	dev, err := swapfs.FindSpace(d.Dev, opts...)
	if err != nil {
		return nil, err
	}
	p, ok := dev.(*partition.Device)
	if !ok {
		d.space = d
		return d, nil
	}
	e := p.Entry()
	pd, err := s.openPartition(d, e.Index, p)
	if err != nil {
		return nil, err
	}
	pd.checked = true
	if p.FromBackup() {
		s.printf("swap: disk=%d backup: the primary GPT is unusable; partition %d found in the backup GPT, not repaired", d.n, e.Index)
	}
	s.printf("swap: disk=%d space=%s type=%s start=%d sectors=%d", d.n, pd.label(), e.TypeName(), e.Start, e.Sectors)
	d.space = pd
	return pd, nil
}
