package agenttest

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// odd is the corpus of crafted messages; testdata/odd/README.md says what
// each one is.
//
//go:embed testdata/odd/*.eml testdata/odd/*.eml.gz
var odd embed.FS

// OddMessages returns messages crafted to break naive mail parsers, by file
// name: 8-bit headers, broken encoded words, 2 MB header blocks, NUL bytes,
// no sender, 500 recipients, nested groups and more. The large ones are
// stored gzipped and returned decompressed, under their name without ".gz".
// A name starting with "refused-" is not a mail message at all: a parser
// must refuse it with a reason.
func OddMessages() (map[string][]byte, error) {
	files, err := fs.Glob(odd, "testdata/odd/*.eml*")
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := odd.ReadFile(f)
		if err != nil {
			return nil, err
		}
		name := f[strings.LastIndexByte(f, '/')+1:]
		if base, ok := strings.CutSuffix(name, ".gz"); ok {
			z, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("odd message %s: %w", name, err)
			}
			if b, err = io.ReadAll(z); err != nil {
				return nil, fmt.Errorf("odd message %s: %w", name, err)
			}
			name = base
		}
		out[name] = b
	}
	return out, nil
}
