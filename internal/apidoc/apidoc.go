// Package apidoc checks that a package's exported API is documented, so
// that go doc reads well: every exported constant, variable, type,
// function and method has a doc comment (a constant or variable in a
// documented group, or with a line comment, is covered), and so does every
// exported field of an exported struct and method of an exported
// interface. go doc shows those members as source, so a member also
// counts as documented when it has a line comment, or when it sits on the
// line right after a documented member: the comment covers the run
// ("Status reads it; SetStatus writes it"). Its test runs the check over
// the library's packages under make test, together with IssueRefs: no
// comment or document names a tracker issue by number.
package apidoc

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Missing parses the non-test Go files of the package in dir (on fsys) and
// returns one line per exported name without a doc comment, each as
// "file:line: kind name", sorted.
func Missing(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var missing []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := fs.ReadFile(fsys, dir+"/"+name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, dir+"/"+name, src, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		missing = append(missing, check(fset, f)...)
	}
	sort.Strings(missing)
	return missing, nil
}

func check(fset *token.FileSet, f *ast.File) []string {
	var out []string
	report := func(pos token.Pos, kind, name string) {
		p := fset.Position(pos)
		out = append(out, fmt.Sprintf("%s:%d: %s %s", p.Filename, p.Line, kind, name))
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() || d.Doc != nil {
				continue
			}
			if d.Recv == nil {
				report(d.Pos(), "func", d.Name.Name)
			} else if recv := recvType(d.Recv); ast.IsExported(recv) {
				report(d.Pos(), "method", recv+"."+d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if !s.Name.IsExported() {
						continue
					}
					if s.Doc == nil && d.Doc == nil {
						report(s.Pos(), "type", s.Name.Name)
					}
					checkMembers(fset, s, report)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() && s.Doc == nil && d.Doc == nil && s.Comment == nil {
							report(n.Pos(), d.Tok.String(), n.Name)
						}
					}
				}
			}
		}
	}
	return out
}

// checkMembers reports the undocumented exported fields of a struct and
// methods of an interface, a run of adjacent members sharing the doc
// comment of its first. A type with a single member needs none.
func checkMembers(fset *token.FileSet, s *ast.TypeSpec, report func(token.Pos, string, string)) {
	var list *ast.FieldList
	kind := "field"
	switch t := s.Type.(type) {
	case *ast.StructType:
		list = t.Fields
	case *ast.InterfaceType:
		list, kind = t.Methods, "interface method"
	default:
		return
	}
	if len(list.List) == 1 && len(list.List[0].Names) <= 1 {
		// A one-member type (interface{ Flush() error }) is described
		// by the type's own doc comment, which Missing checks.
		return
	}
	// run is whether the previous member's doc comment (its own, or
	// that of the run it continues) covers a member on the next line. A
	// line comment covers only its own line.
	run, prevEnd := false, 0
	for _, fld := range list.List {
		start, end := fset.Position(fld.Pos()).Line, fset.Position(fld.End()).Line
		run = fld.Doc != nil || run && start == prevEnd+1
		prevEnd = end
		if run || fld.Comment != nil {
			continue
		}
		for _, n := range fld.Names {
			if n.IsExported() {
				report(n.Pos(), kind, s.Name.Name+"."+n.Name)
			}
		}
	}
}

// recvType is the name of a method's receiver type, without pointer or
// type parameters.
func recvType(recv *ast.FieldList) string {
	if len(recv.List) == 0 {
		return ""
	}
	t := recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// issueRef matches a reference to a tracker issue by number: the word
// issue or issues, then a number, with or without a #. That is history,
// which belongs in commit messages, not in comments or documentation.
var issueRef = regexp.MustCompile(`(?i)\bissues?\s+#?[0-9]+\b`)

// IssueRefs returns "file:line: text" for every line of the repository's
// Go files, Markdown files and scripts on fsys that names an issue by
// number. Directories that hold build outputs and caches are skipped.
func IssueRefs(fsys fs.FS) ([]string, error) {
	var out []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "cache", "build", "out":
				return fs.SkipDir
			}
			return nil
		}
		if !textFile(p) {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if issueRef.MatchString(line) {
				out = append(out, fmt.Sprintf("%s:%d: %s", p, i+1, strings.TrimSpace(line)))
			}
		}
		return nil
	})
	return out, err
}

// textFile reports the files IssueRefs reads: Go and Markdown files, and
// the extension-less scripts under qemu/ and .ci/.
func textFile(p string) bool {
	switch path.Ext(p) {
	case ".go", ".md":
		return true
	case "":
		return strings.HasPrefix(p, "qemu/") || strings.HasPrefix(p, ".ci/") || p == "Makefile"
	}
	return false
}
