package cli

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot is the directory of go.mod, two levels up from this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// TestPackageDocs checks that every package of the module has a package
// doc comment, in the manner of tailscale's: go/parser over the tree,
// skipping testdata, node_modules and hidden directories.
func TestPackageDocs(t *testing.T) {
	root := moduleRoot(t)
	dirs := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			dirs[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 10 {
		t.Fatalf("found only %d package directories; the walk is broken", len(dirs))
	}
	for dir := range dirs {
		rel, _ := filepath.Rel(root, dir)
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			fset := token.NewFileSet()
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			documented := map[string]bool{}
			for _, e := range entries {
				n := e.Name()
				if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
					continue
				}
				f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.PackageClauseOnly|parser.ParseComments)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := documented[f.Name.Name]; !ok {
					documented[f.Name.Name] = false
				}
				if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
					documented[f.Name.Name] = true
				}
			}
			for pkg, ok := range documented {
				if !ok {
					t.Errorf("package %s in %s has no package doc comment (// Package %s ...)", pkg, rel, pkg)
				}
			}
		})
	}
}

// TestReadmeQuickStart keeps the README's promise of a two-command start.
func TestReadmeQuickStart(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := "## Quick start\n\n```sh\ngo run ./cmd/asana-webhooks demo\nmake test\n```\n"
	if !strings.Contains(string(b), want) {
		t.Errorf("README.md's quick start is not exactly:\n%s", want)
	}
	for _, section := range []string{"## Install", "## Configuration", "## Exit codes", "## Tests", "## Using the Go packages"} {
		if !strings.Contains(string(b), "\n"+section+"\n") {
			t.Errorf("README.md lacks the section %q", section)
		}
	}
}
