package harness

import (
	"fmt"
	"io"
)

// cpioEntry is one file of an initramfs.
type cpioEntry struct {
	name string
	mode uint32 // type and permission bits, as in st_mode
	rdev [2]uint32
	data []byte
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeChar = 0o020000
)

// writeCPIO writes entries as a "newc" cpio archive, the format the Linux
// kernel unpacks into its initial root file system
// (Documentation/driver-api/early-userspace/buffer-format.rst). The
// build writes it itself so that no cpio tool is needed.
func writeCPIO(w io.Writer, entries []cpioEntry) error {
	var pad [4]byte
	for i, e := range append(entries, cpioEntry{name: "TRAILER!!!"}) {
		nlink := 1
		if e.mode&0o170000 == modeDir {
			nlink = 2
		}
		hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			i+1, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.rdev[0], e.rdev[1], len(e.name)+1, 0)
		if _, err := io.WriteString(w, hdr+e.name+"\x00"); err != nil {
			return err
		}
		// The name, after the 110-byte header, is padded to 4 bytes; so
		// is the data.
		if _, err := w.Write(pad[:(4-(110+len(e.name)+1)%4)%4]); err != nil {
			return err
		}
		if _, err := w.Write(e.data); err != nil {
			return err
		}
		if _, err := w.Write(pad[:(4-len(e.data)%4)%4]); err != nil {
			return err
		}
	}
	return nil
}
