package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// The fio path's disk: Debian's fio and exactly the shared libraries its
// DT_NEEDED entries pull in, transitively, with the dynamic loader its
// PT_INTERP names, on a read-only ext2 image (mke2fs -d) that the guest
// mounts (cmd/tamaswap/fio_linux.go). A disk rather than the initramfs:
// the libraries (librados, librbd, libgfapi, the RDMA ones, and theirs)
// come to tens of MiB, which the guest then reads only as far as the
// loader maps them, instead of unpacking them all into RAM at every boot.

// fioTree is the layout of the image: bin/fio, lib/NAME for the loader
// and each library, by the name the ELF files ask for.
type fioTree struct {
	version string            // the fio package's version
	files   map[string]string // image path → file in the unpacked packages
}

// libDirs are where Debian's multiarch packages install libraries, the
// loader's default search path.
var libDirs = []string{"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib"}

// fioClosure walks fio's ELF dependencies in root, the packages unpacked
// by qemu/fio, and returns the files the guest needs.
func fioClosure(root string) (*fioTree, error) {
	t := &fioTree{version: strings.TrimPrefix(filepath.Base(root), "fio_"), files: map[string]string{}}
	bin, err := resolveIn(root, "usr/bin/fio")
	if err != nil {
		return nil, err
	}
	t.files["bin/fio"] = bin
	queue := []string{bin}
	for len(queue) > 0 {
		file := queue[0]
		queue = queue[1:]
		f, err := elf.Open(file)
		if err != nil {
			return nil, fmt.Errorf("fio path: %w", err)
		}
		needed, err := f.ImportedLibraries()
		interp := interpreter(f)
		runpath, _ := f.DynString(elf.DT_RUNPATH)
		rpath, _ := f.DynString(elf.DT_RPATH)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("fio path: %s: %w", file, err)
		}
		if interp != "" {
			needed = append(needed, interp)
		}
		var dirs []string
		for _, p := range append(rpath, runpath...) {
			for _, d := range strings.Split(p, ":") {
				d = strings.ReplaceAll(d, "$ORIGIN", "/"+mustRel(root, filepath.Dir(file)))
				dirs = append(dirs, strings.TrimPrefix(path.Clean(d), "/"))
			}
		}
		dirs = append(dirs, libDirs...)
		for _, n := range needed {
			name := "lib/" + path.Base(n)
			if _, ok := t.files[name]; ok {
				continue
			}
			found := ""
			if strings.HasPrefix(n, "/") {
				found, err = resolveIn(root, n)
			} else {
				for _, d := range dirs {
					if found, err = resolveIn(root, path.Join(d, n)); err == nil {
						break
					}
				}
			}
			if err != nil {
				return nil, fmt.Errorf("fio path: %s needs %s, which no package qemu/fio fetched holds (%v)", mustRel(root, file), n, err)
			}
			t.files[name] = found
			queue = append(queue, found)
		}
	}
	if _, ok := t.files["lib/ld-linux-x86-64.so.2"]; !ok {
		return nil, errors.New("fio path: fio names no ld-linux-x86-64.so.2 as its interpreter")
	}
	return t, nil
}

// interpreter returns f's PT_INTERP, or "".
func interpreter(f *elf.File) string {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err == nil {
				return string(bytes.TrimRight(b, "\x00"))
			}
		}
	}
	return ""
}

// resolveIn follows p's symbolic links inside root, as if root were /,
// and returns the regular file it names.
func resolveIn(root, p string) (string, error) {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	for hops := 0; hops < 40; hops++ {
		// Resolve the first link among p's components.
		parts := strings.Split(p, "/")
		link := false
		for i := range parts {
			cur := filepath.Join(root, filepath.Join(parts[:i+1]...))
			st, err := os.Lstat(cur)
			if err != nil {
				return "", err
			}
			if st.Mode()&os.ModeSymlink == 0 {
				continue
			}
			target, err := os.Readlink(cur)
			if err != nil {
				return "", err
			}
			if !strings.HasPrefix(target, "/") {
				target = path.Join(path.Join(parts[:i]...), target)
			}
			p = strings.TrimPrefix(path.Clean("/"+path.Join(append([]string{target}, parts[i+1:]...)...)), "/")
			link = true
			break
		}
		if !link {
			full := filepath.Join(root, p)
			st, err := os.Stat(full)
			if err != nil {
				return "", err
			}
			if !st.Mode().IsRegular() {
				return "", fmt.Errorf("%s is not a regular file", p)
			}
			return full, nil
		}
	}
	return "", fmt.Errorf("%s: too many symbolic links", p)
}

func mustRel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return r
}

// fioImage fetches fio (qemu/fio) and writes its read-only disk image
// under build/fio/, once per fio version. It returns the image and the
// version.
func fioImage(c *config) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(filepath.Join(c.root, "qemu", "fio"))
	cmd.Dir = c.root
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("qemu/fio: %v: %s", err, strings.TrimSpace(errOut.String()))
	}
	root := strings.TrimSpace(out.String())
	t, err := fioClosure(root)
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(c.root, "build", "fio")
	img := filepath.Join(dir, "fio_"+t.version+".ext2")
	if _, err := os.Stat(img); err == nil {
		return img, t.version, nil
	}
	stage := filepath.Join(dir, "stage")
	if err := os.RemoveAll(stage); err != nil {
		return "", "", err
	}
	var total int64
	names := make([]string, 0, len(t.files))
	for name := range t.files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		dst := filepath.Join(stage, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", "", err
		}
		n, err := copyFile(dst, t.files[name])
		if err != nil {
			return "", "", err
		}
		total += n
	}
	// Room for the file system's own blocks: a tenth, and 4 MiB.
	kib := (total+total/10)>>10 + 4096
	tmp := img + ".tmp"
	mk := exec.Command("mke2fs", "-q", "-F", "-t", "ext2", "-b", "4096", "-m", "0", "-L", "fio", "-d", stage, tmp, fmt.Sprintf("%dk", kib))
	if b, err := mk.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", "", fmt.Errorf("mke2fs: %v: %s (qemu/setup installs e2fsprogs)", err, bytes.TrimSpace(b))
	}
	os.RemoveAll(stage)
	fmt.Printf("benchreport: fio %s and %d libraries (%d MiB) on %s\n", t.version, len(names)-2, total>>20, rel(c.root, img))
	return img, t.version, os.Rename(tmp, img)
}

func copyFile(dst, src string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}
