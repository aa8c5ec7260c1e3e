// Command elfbin writes the memory image of an ELF executable as a flat
// binary, for boot ROMs that load raw images: the i.MX6 boot ROM copies an
// .imx image's payload to its load address and jumps to the entry point,
// and neither parses ELF nor zeroes anything. It is what TamaGo's examples
// do with `objcopy -O binary` (whose Debian build knows no ARM ELF):
//
//	elfbin ELF BIN
//
// Every allocated section but notes goes to BIN at its address minus the
// lowest such address (the load address); .bss and .noptrbss, which take
// no room in the ELF, are written as zeros, since the runtime expects
// them zeroed. Gaps between sections are zeros too. It prints the load
// address, the size and the entry point.
package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: elfbin ELF BIN")
		os.Exit(2)
	}
	load, size, entry, err := convert(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "elfbin:", err)
		os.Exit(1)
	}
	fmt.Printf("elfbin: %s: load %#x size %d entry %#x\n", os.Args[2], load, size, entry)
}

// maxImage bounds the binary: an i.MX6 image must fit its RAM.
const maxImage = 1 << 30

// inImage reports whether section s is part of the memory image: it is
// allocated, not a note, and not a thread-local .tbss (a template that
// overlaps the sections after it and takes no memory of its own).
func inImage(s *elf.Section) bool {
	if s.Flags&elf.SHF_ALLOC == 0 || s.Type == elf.SHT_NOTE || s.Size == 0 {
		return false
	}
	return s.Type != elf.SHT_NOBITS || s.Flags&elf.SHF_TLS == 0
}

// image returns the sections that make up f's memory image and the range
// they span.
func image(f *elf.File) (secs []*elf.Section, start, end uint64, err error) {
	start = ^uint64(0)
	for _, s := range f.Sections {
		if !inImage(s) {
			continue
		}
		secs = append(secs, s)
		start = min(start, s.Addr)
		end = max(end, s.Addr+s.Size)
	}
	if len(secs) == 0 {
		return nil, 0, 0, errors.New("no allocated sections")
	}
	if end-start > maxImage {
		return nil, 0, 0, fmt.Errorf("sections span %#x-%#x, more than %d MiB", start, end, maxImage>>20)
	}
	return secs, start, end, nil
}

func convert(in, out string) (load, size, entry uint64, err error) {
	f, err := elf.Open(in)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	secs, start, end, err := image(f)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%s: %w", in, err)
	}
	buf := make([]byte, end-start)
	for _, s := range secs {
		if s.Type == elf.SHT_NOBITS {
			continue // zeros
		}
		dst := buf[s.Addr-start : s.Addr-start+s.Size]
		if _, err := io.ReadFull(s.Open(), dst); err != nil {
			return 0, 0, 0, fmt.Errorf("%s: section %s: %w", in, s.Name, err)
		}
	}
	if err := os.WriteFile(out, buf, 0o644); err != nil {
		return 0, 0, 0, err
	}
	return start, end - start, f.Entry, nil
}
