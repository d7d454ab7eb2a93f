package hubcache

import (
	"net/http"
	"testing"
	"time"
)

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
		{"404", 404, nil, false, "status", 0, 0, nil},
		{"206", 206, nil, false, "status", 0, 0, nil},
		{"set-cookie", 200, http.Header{"Set-Cookie": {"a=b"}}, false, "set-cookie", 0, 0, nil},
		{"no-store", 200, http.Header{"Cache-Control": {"no-store"}}, false, "no-store", 0, 0, nil},
		{"private", 200, http.Header{"Cache-Control": {"private, max-age=60"}}, false, "private", 0, 0, nil},
		{"private field list", 200, http.Header{"Cache-Control": {`private="x, y"`}}, false, "private", 0, 0, nil},
		{"no-cache", 200, http.Header{"Cache-Control": {"no-cache"}}, false, "no-cache", 0, 0, nil},
		{"max-age caps", 200, http.Header{"Cache-Control": {"max-age=30"}}, true, "", 30 * time.Second, maxStale, nil},
		{"max-age above route", 200, http.Header{"Cache-Control": {"max-age=3600"}}, true, "", route, maxStale, nil},
		{"max-age=0", 200, http.Header{"Cache-Control": {"max-age=0"}}, false, "expired", 0, 0, nil},
		{"s-maxage wins over max-age", 200, http.Header{"Cache-Control": {"max-age=10, s-maxage=40"}}, true, "", 40 * time.Second, 0, nil},
		{"two field lines", 200, http.Header{"Cache-Control": {"public", "MAX-AGE=20"}}, true, "", 20 * time.Second, maxStale, nil},
		{"bad max-age ignored", 200, http.Header{"Cache-Control": {"max-age=abc"}}, true, "", route, maxStale, nil},
		{"must-revalidate: no stale", 200, http.Header{"Cache-Control": {"max-age=60, must-revalidate"}}, true, "", time.Minute, 0, nil},
		{"stale-if-error caps", 200, http.Header{"Cache-Control": {"stale-if-error=30"}}, true, "", route, 30 * time.Second, nil},
		{"expires", 200, http.Header{"Date": {now.Format(http.TimeFormat)}, "Expires": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, true, "", 90 * time.Second, maxStale, nil},
		{"bad expires", 200, http.Header{"Expires": {"0"}}, false, "expires", 0, 0, nil},
		{"vary", 200, http.Header{"Vary": {"Accept-Language, accept", "X-Foo"}}, true, "", route, maxStale, []string{"accept", "accept-language", "x-foo"}},
		{"vary star", 200, http.Header{"Vary": {"*"}}, false, "vary", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			p := decideStore(tt.status, h, route, maxStale, now)
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
		{"none", nil, requestPolicy{maxAge: -1}},
		{"no-cache", http.Header{"Cache-Control": {"no-cache"}}, requestPolicy{revalidate: true, maxAge: -1}},
		{"pragma", http.Header{"Pragma": {"no-cache"}}, requestPolicy{revalidate: true, maxAge: -1}},
		{"pragma ignored with cache-control", http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=5"}}, requestPolicy{maxAge: 5 * time.Second}},
		{"max-age=0", http.Header{"Cache-Control": {"max-age=0"}}, requestPolicy{revalidate: true, maxAge: 0}},
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, requestPolicy{noStore: true, maxAge: -1}},
		{"only-if-cached", http.Header{"Cache-Control": {"only-if-cached"}}, requestPolicy{onlyIfCached: true, maxAge: -1}},
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
	for _, s := range []string{"max-age=60", `private="a, b", no-cache`, "s-maxage=1,,=,", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := http.Header{"Cache-Control": {s}}
		_ = parseRequestPolicy(h)
		p := decideStore(200, h, time.Minute, time.Minute, time.Now())
		if p.store && (p.ttl <= 0 || p.ttl > time.Minute || p.stale < 0 || p.stale > time.Minute) {
			t.Fatalf("decideStore(%q) = %+v", s, p)
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
