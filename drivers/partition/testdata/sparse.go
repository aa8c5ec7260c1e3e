//go:build ignore

// sparse writes a disk image's non-zero sectors to a small file that the
// tests load back (see mkimages): "TSPARSE1", the sector size (uint32)
// and the disk's sectors (uint64), then runs of sectors, each its first
// LBA (uint64), its length in sectors (uint32) and the data, all
// little-endian.
//
//	go run sparse.go IMAGE SECTOR_SIZE OUT
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
)

func main() {
	img, err := os.ReadFile(os.Args[1])
	check(err)
	ss, err := strconv.Atoi(os.Args[2])
	check(err)
	var out bytes.Buffer
	out.WriteString("TSPARSE1")
	binary.Write(&out, binary.LittleEndian, uint32(ss))
	binary.Write(&out, binary.LittleEndian, uint64(len(img)/ss))
	zero := make([]byte, ss)
	n := len(img) / ss
	for lba := 0; lba < n; {
		if bytes.Equal(img[lba*ss:(lba+1)*ss], zero) {
			lba++
			continue
		}
		end := lba
		for end < n && !bytes.Equal(img[end*ss:(end+1)*ss], zero) {
			end++
		}
		binary.Write(&out, binary.LittleEndian, uint64(lba))
		binary.Write(&out, binary.LittleEndian, uint32(end-lba))
		out.Write(img[lba*ss : end*ss])
		lba = end
	}
	check(os.WriteFile(os.Args[3], out.Bytes(), 0o644))
	fmt.Printf("%s: %d bytes\n", os.Args[3], out.Len())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
