package hubcache

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// noGen is the generation of a tag that has never been invalidated (or
// whose generation expired): any write sets a fresh random one, so an
// entry filled before the write never matches again.
const noGen = "-"

// entry is one stored response (or, with marker set, the Vary marker kept
// at the primary key of a response that varies).
type entry struct {
	status int
	header http.Header
	body   []byte
	stored time.Time     // when the response was received
	ttl    time.Duration // fresh until stored+ttl
	stale  time.Duration // may answer on upstream failure until stored+ttl+stale
	swr    time.Duration // may answer while refreshed in the background until stored+ttl+swr
	keep   time.Duration // kept past ttl this long for conditional revalidation
	// mustRevalidate: never used stale without validation (must-revalidate,
	// proxy-revalidate, s-maxage, no-cache).
	mustRevalidate bool
	vary           []string // lowercased header names (RFC 9111 §4.1)
	marker         bool     // a Vary marker: look up varyKey(vary) next
	tags           []string // hashed tags this entry depends on
	gens           []string // their generations when the entry was filled
}

// meta is the JSON line of an encoded entry.
type meta struct {
	Status int                 `json:"s,omitempty"`
	Header map[string][]string `json:"h,omitempty"`
	Stored int64               `json:"t"`
	TTL    int64               `json:"ttl"`
	Stale  int64               `json:"st,omitempty"`
	SWR    int64               `json:"swr,omitempty"`
	Keep   int64               `json:"k,omitempty"`
	MustRV bool                `json:"mr,omitempty"`
	Vary   []string            `json:"v,omitempty"`
	Marker bool                `json:"m,omitempty"`
}

var errCorrupt = errors.New("hub_cache: corrupt entry")

// encode lays an entry out as
//
//	<tag> <tag> …\n<gen> <gen> …\n<json meta>\n<body>
//
// The first line is read by the Redis lookup script, which fetches the
// tags' current generations in the same round trip as the entry.
func (e *entry) encode() []byte {
	m, _ := json.Marshal(meta{
		Status: e.status, Header: e.header, Stored: e.stored.UnixNano(),
		TTL: int64(e.ttl), Stale: int64(e.stale), SWR: int64(e.swr), Keep: int64(e.keep), MustRV: e.mustRevalidate, Vary: e.vary, Marker: e.marker,
	})
	var b bytes.Buffer
	b.Grow(len(e.body) + len(m) + 40*len(e.tags) + 4)
	b.WriteString(strings.Join(e.tags, " "))
	b.WriteByte('\n')
	b.WriteString(strings.Join(e.gens, " "))
	b.WriteByte('\n')
	b.Write(m)
	b.WriteByte('\n')
	b.Write(e.body)
	return b.Bytes()
}

// decodeEntry reverses encode. The body aliases b.
func decodeEntry(b []byte) (*entry, error) {
	var lines [3][]byte
	rest := b
	for i := range lines {
		j := bytes.IndexByte(rest, '\n')
		if j < 0 {
			return nil, errCorrupt
		}
		lines[i], rest = rest[:j], rest[j+1:]
	}
	var m meta
	if err := json.Unmarshal(lines[2], &m); err != nil {
		return nil, errCorrupt
	}
	e := &entry{
		status: m.Status, header: http.Header(m.Header), body: rest,
		stored: time.Unix(0, m.Stored), ttl: time.Duration(m.TTL), stale: time.Duration(m.Stale),
		swr: time.Duration(m.SWR), keep: time.Duration(m.Keep), mustRevalidate: m.MustRV,
		vary: m.Vary, marker: m.Marker,
		tags: strings.Fields(string(lines[0])), gens: strings.Fields(string(lines[1])),
	}
	if len(e.tags) != len(e.gens) {
		return nil, errCorrupt
	}
	if e.header == nil {
		e.header = http.Header{}
	}
	return e, nil
}

// size estimates the memory an entry takes, for the L1 byte bound.
func (e *entry) size() int64 {
	n := int64(len(e.body)) + 256 + 40*int64(len(e.tags))
	for k, vs := range e.header {
		n += int64(len(k))
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	return n
}

// valid reports whether every tag still has the generation the entry was
// filled with: current maps hashed tags to their current generations.
func (e *entry) valid(current map[string]string) bool {
	for i, t := range e.tags {
		g, ok := current[t]
		if !ok || g != e.gens[i] {
			return false
		}
	}
	return true
}

// validFor reports whether the entry was filled under the generations gens
// holds for tags, which must be the first tags of the entry (the request's
// own; the upstream's custom tags follow them).
func (e *entry) validFor(tags []string, gens map[string]string) bool {
	if len(tags) > len(e.tags) {
		return false
	}
	for i, t := range tags {
		g, ok := gens[t]
		if !ok || e.tags[i] != t || e.gens[i] != g {
			return false
		}
	}
	return true
}

// age is the entry's current age (RFC 9111 §4.2.3), stored time included.
func (e *entry) age(now time.Time) time.Duration {
	if d := now.Sub(e.stored); d > 0 {
		return d
	}
	return 0
}

func (e *entry) fresh(now time.Time) bool { return e.age(now) < e.ttl }

// usableStale reports whether the entry may answer for a failing upstream
// (RFC 9111 §4.2.4, RFC 5861 §4, max_stale).
func (e *entry) usableStale(now time.Time) bool { return e.age(now) < e.ttl+e.stale }

// inSWR reports whether a stale entry may answer while it is refreshed
// in the background (RFC 5861 §3).
func (e *entry) inSWR(now time.Time) bool {
	a := e.age(now)
	return a >= e.ttl && a < e.ttl+e.swr
}

// validator reports whether the entry can be revalidated conditionally.
func (e *entry) validator() bool {
	return e.header.Get("ETag") != "" || e.header.Get("Last-Modified") != ""
}

// lifetime is how long the store keeps the entry.
func (e *entry) lifetime() time.Duration { return e.ttl + max(e.stale, e.swr, e.keep) }
