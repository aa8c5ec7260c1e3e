package shell

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/partition/partitiontest"
)

// tableDisk loads a table sfdisk, sgdisk or fdisk made.
func tableDisk(t *testing.T, name string) *block.Mem { return partitiontest.Disk(t, name) }

func results(got []string, prefix string) []string {
	var r []string
	for _, l := range got {
		if strings.HasPrefix(l, prefix) {
			r = append(r, l)
		}
	}
	return r
}

func TestInfoPartitions(t *testing.T) {
	gpt, mbr, blank := tableDisk(t, "gpt.sparse"), tableDisk(t, "mbr.sparse"), mem(64, 512)
	got, _ := run(t, []Disk{mkdisk(gpt), mkdisk(mbr), mkdisk(blank)}, "info\n")
	want(t, results(got, "part: "),
		"part: disk=0 index=1 type=0fc63daf-8483-4772-8e79-3d69d8477de4 start=2048 sectors=6144",
		"part: disk=0 index=2 type=linux-swap start=8192 sectors=8159",
		"part: disk=1 index=1 type=mbr-0x83 start=2048 sectors=4096",
		"part: disk=1 index=2 type=linux-swap start=6144 sectors=2048",
		"part: disk=1 index=5 type=mbr-0x83 start=10240 sectors=2048",
		"part: disk=1 index=6 type=linux-swap start=14336 sectors=2048")
	// Each part: line comes after its disk's info: line.
	var order []string
	for _, l := range got {
		order = append(order, l[:strings.Index(l, " ")+7])
	}
	if strings.Join(order, "|") != "info: disk=0|part: disk=0|part: disk=0|info: disk=1|part: disk=1|part: disk=1|part: disk=1|part: disk=1|info: disk=2" {
		t.Errorf("order: %q", order)
	}

	gpt4k := tableDisk(t, "gpt4k.sparse")
	got, _ = run(t, []Disk{mkdisk(gpt4k)}, "info\n")
	want(t, results(got, "part: "),
		"part: disk=0 index=1 type=0fc63daf-8483-4772-8e79-3d69d8477de4 start=256 sectors=1024",
		"part: disk=0 index=2 type=linux-swap start=1280 sectors=2560")
}

func TestPartitionBackup(t *testing.T) {
	gpt := tableDisk(t, "gpt.sparse")
	gpt.Bytes()[512+60] ^= 1
	before := append([]byte(nil), gpt.Bytes()[:8192*512]...)
	got, _ := run(t, []Disk{mkdisk(gpt)}, "info\nswaptest 1M\n")
	want(t, results(got, "part: "),
		"~part: disk=0 backup: GPT read from the backup header at LBA 16383, not repaired; the primary: .*CRC32.*",
		"part: disk=0 index=1 type=0fc63daf-8483-4772-8e79-3d69d8477de4 start=2048 sectors=6144",
		"part: disk=0 index=2 type=linux-swap start=8192 sectors=8159")
	want(t, results(got, "swap"),
		"swap: disk=0 backup: the primary GPT is unusable; partition 2 found in the backup GPT, not repaired",
		"swap: disk=0 space=0p2 type=linux-swap start=8192 sectors=8159",
		"~swaptest: PASS size=1048576 .*")
	if !bytes.Equal(before, gpt.Bytes()[:8192*512]) {
		t.Error("swaptest changed the disk outside its partition (or repaired the table)")
	}
}

func TestUsePartition(t *testing.T) {
	gpt := tableDisk(t, "gpt.sparse")
	got, _ := run(t, []Disk{mkdisk(gpt)}, strings.Join([]string{
		"use 0p1", "fill 3 2 171", "sum 3 2", "swaptest 1M",
		"use 0p2", "fill 8158 1 7", "selftest", "swaptest 2M", "swapstat",
		"use 0", "swaptest 1M", "swapstat",
		"use 0p3", "use 0p0", "use 1p1", "use 0px",
	}, "\n"))
	h := sha256.Sum256(bytes.Repeat([]byte{171}, 1024))
	sum := hex.EncodeToString(h[:])
	want(t, got,
		"use: disk=0p1", "fill: ok", "sum: "+sum,
		"swaptest: error: swapfs: not swap space: partition 1 is of type 0fc63daf-8483-4772-8e79-3d69d8477de4, not Linux swap (use the disk whole only by forcing it)",
		"use: disk=0p2", "fill: ok", "selftest: PASS", "~swaptest: PASS size=2097152 .*", "swapstat: total=3 free=3",
		// The whole disk's swap is partition 2, with the same manager.
		"use: disk=0", "swap: disk=0 space=0p2 type=linux-swap start=8192 sectors=8159", "~swaptest: PASS size=1048576 .*", "swapstat: total=3 free=3",
		"use: error: disk 0 has no partition 3 (its gpt table has: 1, 2)",
		"use: error: partition 0: out of range (partitions count from 1)",
		"use: error: disk 1: out of range (1 disks)",
		`use: error: partition "x": not a decimal number`)
	b := gpt.Bytes()
	if !bytes.Equal(b[(2048+3)*512:(2048+5)*512], bytes.Repeat([]byte{171}, 1024)) {
		t.Error("fill through use 0p1 is not at the partition's start + LBA")
	}
	if !bytes.Equal(b[(8192+8158)*512:(8192+8159)*512], bytes.Repeat([]byte{7}, 512)) {
		t.Error("fill through use 0p2 is not at the partition's start + LBA")
	}
	// Forcing uses a data partition whole.
	got, _ = run(t, []Disk{mkdisk(gpt)}, "use 0p1\nswaptest 1M --force\n")
	want(t, got, "use: disk=0p1", "~swaptest: PASS size=1048576 .*")
}

func TestSwapRefusals(t *testing.T) {
	noswap := tableDisk(t, "mbr-noswap.sparse")
	ivt := mem(4096, 512)
	copy(ivt.Bytes()[1024:], []byte{0xD1, 0x00, 0x20, 0x40})
	before := append([]byte(nil), noswap.Bytes()...)
	got, _ := run(t, []Disk{mkdisk(noswap), mkdisk(ivt)}, "swaptest 1M\nswapstat\nuse 1\nswaptest 1M\nbench swap-append-64K\n")
	want(t, got,
		"swaptest: error: swapfs: not swap space: found an MBR partition table with 1 partitions and no Linux swap partition (use the disk whole only by forcing it)",
		"swapstat: error: swapfs: not swap space: found an MBR partition table with 1 partitions and no Linux swap partition (use the disk whole only by forcing it)",
		"use: disk=1",
		"swaptest: error: swapfs: not swap space: found an i.MX boot image (IVT at byte 1024) on the whole disk (use the disk whole only by forcing it)",
		"bench: error: swap-append-64K: swapfs: not swap space: found an i.MX boot image (IVT at byte 1024) on the whole disk (use the disk whole only by forcing it)")
	if !bytes.Equal(before, noswap.Bytes()) {
		t.Error("a refused disk changed")
	}
}
