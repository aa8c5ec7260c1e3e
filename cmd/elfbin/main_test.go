package main

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"testing"
)

// The test binary is itself an ELF on the hosts that run it: its image
// must hold every allocated section's bytes at its address, and zeros for
// .bss.
func TestConvertSelf(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Skipf("skipped: the test binary is not an ELF (%v)", err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), "self.bin")
	load, size, entry, err := convert(exe, out)
	if err != nil {
		t.Fatal(err)
	}
	if entry != f.Entry {
		t.Errorf("entry %#x, want %#x", entry, f.Entry)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(bin)) != size {
		t.Fatalf("wrote %d bytes, reported %d", len(bin), size)
	}
	var text, bss bool
	for _, s := range f.Sections {
		if !inImage(s) {
			continue
		}
		if s.Addr < load || s.Addr+s.Size > load+size {
			t.Fatalf("section %s at %#x+%d outside the image %#x+%d", s.Name, s.Addr, s.Size, load, size)
		}
		got := bin[s.Addr-load : s.Addr-load+s.Size]
		want := make([]byte, s.Size)
		if s.Type != elf.SHT_NOBITS {
			if want, err = s.Data(); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("section %s: image bytes differ from the ELF's", s.Name)
		}
		text = text || s.Name == ".text"
		bss = bss || s.Name == ".bss"
	}
	if !text || !bss {
		t.Errorf("checked .text %t, .bss %t: want both", text, bss)
	}
}

func TestNotELF(t *testing.T) {
	in := filepath.Join(t.TempDir(), "not.elf")
	if err := os.WriteFile(in, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := convert(in, filepath.Join(t.TempDir(), "out.bin")); err == nil {
		t.Error("converted a file that is not an ELF")
	}
}
