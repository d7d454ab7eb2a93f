package domain

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

func TestParseIfMatch(t *testing.T) {
	tests := []struct {
		in   []string
		want []int64
	}{
		{nil, nil},
		{[]string{"*"}, nil},
		{[]string{`"v1"`}, []int64{1}},
		{[]string{`"v1", "v3"`}, []int64{1, 3}},
		{[]string{`"v1"`, `"v2"`}, []int64{1, 2}},
		{[]string{`W/"v1"`}, []int64{}},
		{[]string{`"v01"`, `"1"`, `v1`, `"v-1"`, `"v0"`, ""}, []int64{}},
	}
	for _, tt := range tests {
		got := parseIfMatch(tt.in)
		if (got == nil) != (tt.want == nil) || !slices.Equal(got, tt.want) {
			t.Errorf("parseIfMatch(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestIfMatch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		tests := []struct {
			method, ifMatch string
			want            int
		}{
			{"PATCH", `"v2"`, 412},
			{"PATCH", `W/"v1"`, 412},
			{"PATCH", `"v7", "v1"`, 200},
			{"PUT", `"v1"`, 412}, // now at v2
			{"PUT", `"v2"`, 200},
			{"PATCH", `*`, 200},
			{"PATCH", ``, 200}, // no If-Match: unconditional
			{"DELETE", `"v1"`, 412},
			{"DELETE", `"v5"`, 204},
			{"DELETE", `"v5"`, 404},
			{"PATCH", `"v5"`, 404},
			{"PUT", `*`, 404},
		}
		id := h.create("chantiers", map[string]any{"nom": "C"})
		for i, tt := range tests {
			t.Run(fmt.Sprintf("%d_%s_%s", i, tt.method, tt.ifMatch), func(t *testing.T) {
				var hdr []string
				if tt.ifMatch != "" {
					hdr = []string{"If-Match", tt.ifMatch}
				}
				var body any
				if tt.method != "DELETE" {
					body = map[string]any{"nom": fmt.Sprint("C", i)}
				}
				w := h.do(tt.method, path("chantiers", id), body, hdr...)
				if w.Code != tt.want {
					t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
				}
				if tt.want == 412 {
					if typ, _ := problemFields(t, w); typ != "urn:hubchantier:problem:precondition-failed" {
						t.Fatalf("type %q", typ)
					}
				}
			})
		}
	})
}

// TestConcurrentIfMatch fires 50 pairs of PATCHes, each pair on its own row
// with the same If-Match: exactly one of each pair must win.
func TestConcurrentIfMatch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		const pairs = 50
		ids := make([]int64, pairs)
		for i := range ids {
			ids[i] = h.create("chantiers", map[string]any{"nom": fmt.Sprint("C", i)})
		}
		codes := make([][2]int, pairs)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range ids {
			for j := 0; j < 2; j++ {
				wg.Go(func() {
					<-start
					w := h.do("PATCH", path("chantiers", ids[i]), map[string]any{"client": fmt.Sprint("client ", j)}, "If-Match", `"v1"`)
					codes[i][j] = w.Code
				})
			}
		}
		close(start)
		wg.Wait()
		for i, c := range codes {
			if !(c == [2]int{200, 412} || c == [2]int{412, 200}) {
				t.Errorf("pair %d: statuses %v, want one 200 and one 412", i, c)
			}
			if m := h.ok(http.StatusOK, "GET", path("chantiers", ids[i]), nil); m["version"] != 2.0 {
				t.Errorf("pair %d: version %v, want 2", i, m["version"])
			}
		}
	})
}

// TestConcurrentPatchWithoutIfMatch checks that unconditional patches on
// different fields are all applied (none lost to a read-modify-write race).
func TestConcurrentPatchWithoutIfMatch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		id := h.create("chantiers", map[string]any{"nom": "C"})
		fields := []string{"adresse", "client", "description"}
		var wg sync.WaitGroup
		for _, f := range fields {
			wg.Go(func() {
				if w := h.do("PATCH", path("chantiers", id), map[string]any{f: "set"}); w.Code != 200 {
					t.Errorf("patch %s: %d %s", f, w.Code, w.Body)
				}
			})
		}
		wg.Wait()
		m := h.ok(200, "GET", path("chantiers", id), nil)
		for _, f := range fields {
			if m[f] != "set" {
				t.Errorf("%s lost: %v", f, m)
			}
		}
		if m["version"] != 4.0 {
			t.Errorf("version %v, want 4", m["version"])
		}
	})
}
