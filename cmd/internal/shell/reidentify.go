package shell

// reidentifier is a disk that can stop answering and be found again (an
// SD card marked gone after a timeout: sdmmc.Card).
type reidentifier interface {
	Gone() bool
	Reidentify() error
}

// reidentify tries a gone disk again, so that a reinserted microSD works
// after `info`. It is the only I/O info does, and only for a gone disk.
func reidentify(s *shell, d *disk) {
	r, ok := d.Dev.(reidentifier)
	if !ok || !r.Gone() {
		return
	}
	if err := r.Reidentify(); err != nil {
		s.printf("info: disk=%d gone: %s", d.n, oneLine(err.Error()))
		return
	}
	s.printf("info: disk=%d re-identified", d.n)
}
