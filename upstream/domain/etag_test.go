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

func TestParseIfNoneMatch(t *testing.T) {
	tests := []struct {
		in       []string
		wantAny  bool
		wantVers []int64
	}{
		{nil, false, nil},
		{[]string{"*"}, true, nil},
		{[]string{`"v1"`}, false, []int64{1}},
		{[]string{`W/"v2", "v3"`}, false, []int64{2, 3}},
		{[]string{`"v1"`, `*`}, true, nil},
		{[]string{`"x"`, `"v0"`, `v4`}, false, nil},
	}
	for _, tt := range tests {
		gotAny, got := parseIfNoneMatch(tt.in)
		if gotAny != tt.wantAny || !slices.Equal(got, tt.wantVers) {
			t.Errorf("parseIfNoneMatch(%q) = %v, %v; want %v, %v", tt.in, gotAny, got, tt.wantAny, tt.wantVers)
		}
	}
}

// TestIfNoneMatch covers If-None-Match on writes (RFC 9110 §13.1.2): "*"
// fails on any existing row; tags fail when they name the current version
// (weak comparison). A missing row is 404 whatever the conditions.
func TestIfNoneMatch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		id := h.create("chantiers", map[string]any{"nom": "C"})
		tests := []struct {
			method string
			hdr    []string
			want   int
		}{
			{"PUT", []string{"If-None-Match", "*"}, 412},
			{"PATCH", []string{"If-None-Match", "*"}, 412},
			{"DELETE", []string{"If-None-Match", "*"}, 412},
			{"PATCH", []string{"If-None-Match", `"v1"`}, 412},
			{"PUT", []string{"If-None-Match", `W/"v1"`}, 412},
			{"PATCH", []string{"If-None-Match", `"v9", "garbage"`}, 200}, // → v2
			{"PUT", []string{"If-None-Match", `"v1"`}, 200},              // → v3
			{"PATCH", []string{"If-Match", `"v3"`, "If-None-Match", `"v3"`}, 412},
			{"PATCH", []string{"If-Match", `"v2"`, "If-None-Match", `"v1"`}, 412}, // If-Match fails
			{"PATCH", []string{"If-Match", `"v3"`, "If-None-Match", `"v1"`}, 200}, // → v4
			{"DELETE", []string{"If-None-Match", `"v4"`}, 412},
			{"DELETE", []string{"If-None-Match", `"v3"`}, 204},
			{"PUT", []string{"If-None-Match", "*"}, 404},
			{"PATCH", []string{"If-None-Match", `"v1"`}, 404},
			{"DELETE", []string{"If-None-Match", "*"}, 404},
		}
		for i, tt := range tests {
			t.Run(fmt.Sprintf("%d_%s", i, tt.method), func(t *testing.T) {
				var body any
				if tt.method != "DELETE" {
					body = map[string]any{"nom": fmt.Sprint("C", i)}
				}
				w := h.do(tt.method, path("chantiers", id), body, tt.hdr...)
				if w.Code != tt.want {
					t.Fatalf("%v: status %d, want %d: %s", tt.hdr, w.Code, tt.want, w.Body)
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
