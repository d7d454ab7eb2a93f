package hubgate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var update = flag.Bool("update", false, "rewrite testdata/*.caddyfiletest with what the adapter gives now")

// adaptSeparator separates the Caddyfile from the expected output in a
// .caddyfiletest file, as in Caddy's caddytest/integration/caddyfile_adapt.
const adaptSeparator = "----------"

// defaultGolden is the golden of the repository's own Caddyfile: its input
// half must be ./Caddyfile, byte for byte (-update copies it).
const defaultGolden = "default.caddyfiletest"

// TestCaddyfileAdapt adapts every testdata/*.caddyfiletest with the
// caddyfile adapter, as Caddy's own caddyfile_adapt tests do. Each file is
// a Caddyfile, a line of ten dashes, then either the JSON it adapts to
// (compared after normalising whitespace) or, for a Caddyfile that must be
// refused (error_*.caddyfiletest), a part of the adapter's error text. `go test -run
// TestCaddyfileAdapt -update .` rewrites the expected halves (review the
// diff: the goldens are the modules' Caddyfile contract).
//
// Environment placeholders ({$HUB_...:default}) are resolved when the
// Caddyfile is adapted, so the HUB_* variables of the environment are
// unset here: the goldens show the defaults.
func TestCaddyfileAdapt(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "HUB_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.caddyfiletest")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			in, want, ok := strings.Cut(string(data), adaptSeparator)
			if !ok {
				t.Fatalf("%s: no %s line between the Caddyfile and the expected output", file, adaptSeparator)
			}
			caddyfile := strings.TrimSpace(in) + "\n"
			if filepath.Base(file) == defaultGolden {
				repo, err := os.ReadFile("Caddyfile")
				if err != nil {
					t.Fatal(err)
				}
				if own := strings.TrimSpace(string(repo)) + "\n"; own != caddyfile {
					if !*update {
						t.Fatalf("%s is out of step with ./Caddyfile: run go test -run TestCaddyfileAdapt -update .", file)
					}
					caddyfile = own
				}
			}
			want = strings.TrimSpace(want)

			got, warnings, adaptErr := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			for _, w := range warnings {
				t.Logf("warning: %s:%d: %s: %s", file, w.Line, w.Directive, w.Message)
			}
			// The name says which outcome is expected, so -update cannot
			// turn a refused Caddyfile into an accepted one, or back.
			if wantErr := strings.HasPrefix(filepath.Base(file), "error_"); wantErr != (adaptErr != nil) {
				t.Fatalf("adapt error = %v; files named error_* must be refused, the others accepted", adaptErr)
			}
			if *update {
				out := adaptErr
				var text string
				if out != nil {
					text = out.Error()
				} else {
					var buf bytes.Buffer
					if err := json.Indent(&buf, got, "", "\t"); err != nil {
						t.Fatal(err)
					}
					text = buf.String()
				}
				if err := os.WriteFile(file, []byte(caddyfile+adaptSeparator+"\n"+text+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}

			if !strings.HasPrefix(want, "{") {
				// An error case: the adapter refuses, naming the problem.
				if adaptErr == nil {
					t.Fatalf("adapted without error, want an error containing %q", want)
				}
				if !strings.Contains(adaptErr.Error(), want) {
					t.Fatalf("error:\n%v\nwant it to contain:\n%s", adaptErr, want)
				}
				return
			}
			if adaptErr != nil {
				t.Fatalf("adapt: %v", adaptErr)
			}
			gotNorm, wantNorm := normaliseJSON(t, got), normaliseJSON(t, []byte(want))
			if gotNorm != wantNorm {
				t.Fatalf("adapted JSON differs from the golden (-update rewrites it):\n%s", firstDifference(wantNorm, gotNorm))
			}
		})
	}
}

// normaliseJSON indents JSON the one way, so that the goldens' own
// whitespace does not matter.
func normaliseJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(b), "", "\t"); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return buf.String()
}

// firstDifference shows the first line where two indented JSON documents
// differ, with a little context.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			from := max(0, i-3)
			var b strings.Builder
			for j := from; j < i && j < len(g); j++ {
				b.WriteString("  " + g[j] + "\n")
			}
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
			return b.String()
		}
	}
	return ""
}
