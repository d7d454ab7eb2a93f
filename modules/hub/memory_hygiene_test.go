package hub

import (
	"context"
	"testing"
	"unsafe"

	"github.com/hubchantier/hubgate/upstream/auth"
)

// inside reports whether s points into the bytes of whole: a string kept
// by the resolver that does would pin whole (a presented key, secret
// included) in memory for as long as it is kept.
func inside(s, whole string) bool {
	if len(s) == 0 || len(whole) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	lo := uintptr(unsafe.Pointer(unsafe.StringData(whole)))
	return p >= lo && p < lo+uintptr(len(whole))
}

// TestResolverKeepsNoSubstringOfTheKey: the key id the resolver keeps (key
// cache, pending usage, active-key set) must be a copy, not a slice of the
// presented key, or the whole key — its secret too — stays in memory for
// up to an hour after the request.
func TestResolverKeepsNoSubstringOfTheKey(t *testing.T) {
	f := newUpstream(t)
	r := f.resolver(t)
	c := f.key(t, auth.CreateKeyRequest{Name: "k", Scopes: []string{"read"}})
	presented := string([]byte(c.Key)) // the request's own copy, as read from a header
	if _, err := r.APIKey(context.Background(), presented); err != nil {
		t.Fatal(err)
	}
	r.mu.RLock()
	for id, e := range r.keys {
		if inside(id, presented) || inside(e.id, presented) || (e.ident != nil && inside(e.ident.KeyID, presented)) {
			t.Errorf("the key cache keeps a substring of the presented key (%s)", id)
		}
	}
	for id := range r.usage {
		if inside(id, presented) {
			t.Errorf("the usage batch keeps a substring of the presented key (%s)", id)
		}
	}
	r.mu.RUnlock()
	activeKeys.mu.Lock()
	for id := range activeKeys.seen {
		if inside(id, presented) {
			t.Errorf("the active-key set keeps a substring of the presented key (%s)", id)
		}
	}
	activeKeys.mu.Unlock()
}
