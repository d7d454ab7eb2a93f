package hubcache

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDecideStore is the override mode (hub_cache's behaviour before
// modes existed): the route TTL for every stored 200, the origin's explicit
// freshness only shortens it. Rows marked "changed" follow RFC 9111 where
// the old behaviour did not.
func TestDecideStore(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	route, maxStale := 5*time.Minute, 10*time.Minute
	tests := []struct {
		name   string
		status int
		header http.Header
		store  bool
		reason string
		ttl    time.Duration
		stale  time.Duration
		vary   []string
	}{
		{"plain 200", 200, nil, true, "", route, maxStale, nil},
		{"404 without freshness (changed: reason)", 404, nil, false, "no-freshness", 0, 0, nil},
		{"404 with max-age (changed: stored)", 404, http.Header{"Cache-Control": {"max-age=30"}}, true, "", 30 * time.Second, maxStale, nil},
		{"206", 206, nil, false, "status", 0, 0, nil},
		{"set-cookie", 200, http.Header{"Set-Cookie": {"a=b"}}, false, "set-cookie", 0, 0, nil},
		{"no-store", 200, http.Header{"Cache-Control": {"no-store"}}, false, "no-store", 0, 0, nil},
		{"private", 200, http.Header{"Cache-Control": {"private, max-age=60"}}, false, "private", 0, 0, nil},
		{"private field list (changed: stored without them)", 200, http.Header{"Cache-Control": {`private="x, y"`}}, true, "", route, maxStale, nil},
		{"no-cache without validator", 200, http.Header{"Cache-Control": {"no-cache"}}, false, "no-cache", 0, 0, nil},
		{"no-cache with validator (changed: stored, always validated)", 200, http.Header{"Cache-Control": {"no-cache"}, "Etag": {`"a"`}}, true, "", 0, 0, nil},
		{"max-age caps", 200, http.Header{"Cache-Control": {"max-age=30"}}, true, "", 30 * time.Second, maxStale, nil},
		{"max-age above route", 200, http.Header{"Cache-Control": {"max-age=3600"}}, true, "", route, maxStale, nil},
		{"max-age=0", 200, http.Header{"Cache-Control": {"max-age=0"}}, false, "expired", 0, 0, nil},
		{"s-maxage wins over max-age", 200, http.Header{"Cache-Control": {"max-age=10, s-maxage=40"}}, true, "", 40 * time.Second, 0, nil},
		{"two field lines", 200, http.Header{"Cache-Control": {"public", "MAX-AGE=20"}}, true, "", 20 * time.Second, maxStale, nil},
		{"bad max-age is stale (changed)", 200, http.Header{"Cache-Control": {"max-age=abc"}}, false, "expired", 0, 0, nil},
		{"must-revalidate: no stale", 200, http.Header{"Cache-Control": {"max-age=60, must-revalidate"}}, true, "", time.Minute, 0, nil},
		{"stale-if-error caps", 200, http.Header{"Cache-Control": {"stale-if-error=30"}}, true, "", route, 30 * time.Second, nil},
		{"expires", 200, http.Header{"Date": {now.Format(http.TimeFormat)}, "Expires": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, true, "", 90 * time.Second, maxStale, nil},
		{"bad expires", 200, http.Header{"Expires": {"0"}}, false, "expired", 0, 0, nil},
		{"vary", 200, http.Header{"Vary": {"Accept-Language, accept", "X-Foo"}}, true, "", route, maxStale, []string{"accept", "accept-language", "x-foo"}},
		{"vary star", 200, http.Header{"Vary": {"*"}}, false, "vary", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			p := decideStore(storeInput{status: tt.status, header: h, mode: ModeOverride, routeTTL: route, maxStale: maxStale, now: now})
			if p.store != tt.store || p.reason != tt.reason || p.ttl != tt.ttl || p.stale != tt.stale || !equalStrings(p.vary, tt.vary) {
				t.Fatalf("decideStore = %+v; want store=%v reason=%q ttl=%s stale=%s vary=%v", p, tt.store, tt.reason, tt.ttl, tt.stale, tt.vary)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRequestPolicy(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   requestPolicy
	}{
		{"none", nil, requestPolicy{maxAge: -1, maxStale: -1}},
		{"no-cache", http.Header{"Cache-Control": {"no-cache"}}, requestPolicy{revalidate: true, maxAge: -1, maxStale: -1}},
		{"pragma", http.Header{"Pragma": {"no-cache"}}, requestPolicy{revalidate: true, maxAge: -1, maxStale: -1}},
		{"pragma ignored with cache-control", http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=5"}}, requestPolicy{maxAge: 5 * time.Second, maxStale: -1}},
		{"max-age=0", http.Header{"Cache-Control": {"max-age=0"}}, requestPolicy{revalidate: true, maxAge: 0, maxStale: -1}},
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, requestPolicy{noStore: true, maxAge: -1, maxStale: -1}},
		{"only-if-cached", http.Header{"Cache-Control": {"only-if-cached"}}, requestPolicy{onlyIfCached: true, maxAge: -1, maxStale: -1}},
		{"max-stale", http.Header{"Cache-Control": {"max-stale=30"}}, requestPolicy{maxAge: -1, maxStale: 30 * time.Second}},
		{"max-stale any", http.Header{"Cache-Control": {"max-stale"}}, requestPolicy{maxAge: -1, maxStale: -1, staleAny: true}},
		{"min-fresh", http.Header{"Cache-Control": {"min-fresh=20"}}, requestPolicy{maxAge: -1, maxStale: -1, minFresh: 20 * time.Second}},
		{"bad max-age ignored", http.Header{"Cache-Control": {"max-age=-1"}}, requestPolicy{maxAge: -1, maxStale: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			if got := parseRequestPolicy(h); got != tt.want {
				t.Fatalf("parseRequestPolicy = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60", `private="a, b", no-cache`, "s-maxage=1,,=,", `"`, "max-age=60;edge1, no-store;hubgate", "max-age=-1", `max-age="5"`, "max-age=1, max-age=2", "stale-while-revalidate=30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := http.Header{"Cache-Control": {s}}
		_ = parseRequestPolicy(h)
		// The same text as Surrogate-Control (targets after ';').
		_ = parseDirectives([]string{s}, cacheName)
		both := http.Header{"Cache-Control": {s}, "Surrogate-Control": {s}}
		for _, mode := range []string{ModeDefault, ModeOrigin, ModeOverride} {
			p := decideStore(storeInput{status: 200, header: both, mode: mode, routeTTL: time.Minute, maxStale: time.Minute, now: time.Now(), shared: true})
			if p.store && (p.ttl < 0 || p.ttl > maxLifetime || (mode == ModeOverride && p.ttl > time.Minute) || p.stale < 0 || p.stale > time.Minute || p.swr < 0) {
				t.Fatalf("decideStore(%q, %s) = %+v", s, mode, p)
			}
			if p.store && p.ttl == 0 && p.swr == 0 {
				t.Fatalf("decideStore(%q, %s) stores a response without validator that is already stale: %+v", s, mode, p)
			}
		}
		if s != "" && !strings.ContainsAny(s, "\r\n\x00") {
			d := parseCacheControl(h)
			if v, present, ok := d.seconds("max-age"); ok && (!present || v < 0 || v > maxDelta*time.Second) {
				t.Fatalf("seconds(max-age) of %q = %s", s, v)
			}
		}
	})
}

// FuzzParseAge feeds Age values: a parsed Age is never negative, and an
// invalid one never reads as valid.
func FuzzParseAge(f *testing.F) {
	for _, s := range []string{"0", "60", "-1", "1.5", "1, 2", " 7 ", "", "abc", "99999999999999999999999"} {
		f.Add(s, "")
	}
	f.Add("5", "6")
	f.Fuzz(func(t *testing.T, a, b string) {
		h := http.Header{"Age": {a}}
		if b != "" {
			h.Add("Age", b)
		}
		age, present, valid := parseAge(h)
		if !present || age < 0 || (!valid && age != 0) {
			t.Fatalf("parseAge(%q, %q) = %s %v %v", a, b, age, present, valid)
		}
		first := strings.TrimSpace(strings.Split(a, ",")[0])
		if valid && strings.Trim(first, "0123456789") != "" {
			t.Fatalf("parseAge(%q) accepted a non-integer", a)
		}
	})
}

// FuzzNormalizeVary checks that Vary normalisation is idempotent and that
// list order never matters for the unordered fields.
func FuzzNormalizeVary(f *testing.F) {
	for _, s := range []string{"gzip, br", "br,gzip", "en-US ; q=0.8, fr", `text/html;level="a, b"`, ""} {
		f.Add("accept-encoding", s)
		f.Add("x-custom", s)
	}
	f.Fuzz(func(t *testing.T, name, v string) {
		n := normalizeVary(name, []string{v})
		if again := normalizeVary(name, []string{n}); again != n && !strings.Contains(v, `"`) {
			t.Fatalf("normalizeVary(%q, %q) = %q, again %q", name, v, n, again)
		}
		if varyFields[name].unordered && !strings.Contains(v, `"`) {
			parts := splitList(v)
			for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
				parts[i], parts[j] = parts[j], parts[i]
			}
			if r := normalizeVary(name, []string{strings.Join(parts, ",")}); r != n {
				t.Fatalf("order matters for %s: %q → %q, reversed → %q", name, v, n, r)
			}
		}
	})
}

func TestEntryRoundTrip(t *testing.T) {
	e := &entry{status: 200, header: http.Header{"Etag": {`"v1"`}}, body: []byte("{\"a\":\n1}"),
		stored: time.Unix(100, 5), ttl: time.Minute, stale: time.Hour, vary: []string{"accept"},
		tags: []string{"aa", "bb"}, gens: []string{"-", "x1"}}
	got, err := decodeEntry(e.encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.status != 200 || string(got.body) != string(e.body) || !got.stored.Equal(e.stored) || got.ttl != e.ttl ||
		got.stale != e.stale || !equalStrings(got.vary, e.vary) || !equalStrings(got.tags, e.tags) || !equalStrings(got.gens, e.gens) ||
		got.header.Get("ETag") != `"v1"` {
		t.Fatalf("round trip: %+v", got)
	}
	for _, bad := range []string{"", "a\nb", "a\n\n{bad\n", "a b\nc\n{}\n"} {
		if _, err := decodeEntry([]byte(bad)); err == nil {
			t.Errorf("decodeEntry(%q) accepted", bad)
		}
	}
}
