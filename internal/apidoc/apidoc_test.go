package apidoc

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// The library's packages whose go doc users read.
var packages = []string{
	"board/tamago",
	"drivers/block",
	"drivers/block/blocktest",
	"drivers/partition",
	"drivers/sdmmc",
	"drivers/sdmmc/sdmmctest",
	"drivers/swapfs",
	"drivers/usdhc",
	"drivers/usdhc/usdhctest",
	"drivers/virtioblk",
	"virtio",
	"virtio/virtiotest",
}

func TestLibraryIsDocumented(t *testing.T) {
	root := os.DirFS("../..")
	for _, p := range packages {
		missing, err := Missing(root, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range missing {
			t.Errorf("no doc comment: %s", m)
		}
	}
}

func TestMissingFindsEachKind(t *testing.T) {
	const src = `package p

// Documented is fine.
func Documented() {}

func Bare() {}

func unexported() {}

// T is documented.
type T struct {
	// A is documented.
	A int
	B int // B has a line comment.
	// Lo and Hi bound it.
	Lo int
	Hi int

	C int
	d int
	E int // E has a line comment.
	F int
}

func (T) M() {}

func (t *T) m() {}

type U interface {
	// Read is documented.
	Read()
	Reread()

	Write()
}

// One documents its only method.
type One interface{ Do() }

type hidden struct{ E int }

func (hidden) N() {}

// The group's doc covers its names.
const (
	K1 = 1
	K2 = 2
)

var V = 3

var W = 4 // W has a line comment.
`
	fsys := fstest.MapFS{"p/p.go": {Data: []byte(src)}, "p/p_test.go": {Data: []byte("package p\nfunc Untested() {}\n")}}
	got, err := Missing(fsys, "p")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"func Bare", "field T.C", "field T.F", "method T.M", "type U", "interface method U.Write", "var V"}
	if len(got) != len(want) {
		t.Fatalf("got %d reports, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.HasSuffix(g, ": "+w)
		}
		if !found {
			t.Errorf("%q not reported; got:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestNoIssueNumbers(t *testing.T) {
	refs, err := IssueRefs(os.DirFS("../.."))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		if !strings.HasPrefix(r, "internal/apidoc/") { // its own test data
			t.Errorf("names an issue number: %s", r)
		}
	}
}

func TestIssueRefsFindsThem(t *testing.T) {
	fsys := fstest.MapFS{
		"a.go":          {Data: []byte("package a\n// fixed for issue 6\n// the issue's target\n")},
		"README.md":     {Data: []byte("ok\nsee Issues #12 and 13\n")},
		"qemu/run":      {Data: []byte("# issue 4\n")},
		"cache/x.md":    {Data: []byte("issue 9\n")},
		"data.tsv":      {Data: []byte("issue 9\n")},
		"b.go":          {Data: []byte("package b // an issue tracker, tissue 5\n")},
		"build/out.txt": {Data: []byte("issue 1\n")},
	}
	got, err := IssueRefs(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"README.md:2: see Issues #12 and 13", "a.go:2: // fixed for issue 6", "qemu/run:1: # issue 4"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
