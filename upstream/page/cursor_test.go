package page

import (
	"strings"
	"testing"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestCursorRoundTrip(t *testing.T) {
	c := NewCodec(testKey)
	scope := Scope("chantiers", map[string]string{"statut": "en_cours"})
	for _, p := range []Position{
		{Dir: Next, CreatedAt: 1700000000000000, ID: 42},
		{Dir: Prev, CreatedAt: 0, ID: 1},
		{Dir: Next, CreatedAt: -1, ID: 1 << 62},
	} {
		s := c.Encode(scope, p)
		got, err := c.Decode(scope, s)
		if err != nil || got != p {
			t.Fatalf("Decode(Encode(%+v)) = %+v, %v", p, got, err)
		}
	}
}

func TestCursorRejects(t *testing.T) {
	c := NewCodec(testKey)
	scope := Scope("chantiers", map[string]string{"statut": "en_cours"})
	good := c.Encode(scope, Position{Dir: Next, CreatedAt: 99, ID: 7})
	flip := []byte(good)
	flip[3] ^= 1
	tests := []struct {
		name, scope, cursor string
	}{
		{"other resource", Scope("pointages", map[string]string{"statut": "en_cours"}), good},
		{"other filters", Scope("chantiers", map[string]string{"statut": "termine"}), good},
		{"no filters", Scope("chantiers", nil), good},
		{"tampered payload", scope, string(flip)},
		{"tampered mac", scope, good[:len(good)-2] + "AA"},
		{"truncated", scope, good[:len(good)-1]},
		{"garbage", scope, "not-a-cursor"},
		{"empty", scope, ""},
		{"padding", scope, good + "="},
		{"other key", scope, NewCodec([]byte("another key")).Encode(scope, Position{Dir: Next, CreatedAt: 99, ID: 7})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Decode(tt.scope, tt.cursor); err != ErrInvalidCursor {
				t.Fatalf("Decode(%q) err = %v, want ErrInvalidCursor", tt.cursor, err)
			}
		})
	}
}

func TestScopeIsCanonical(t *testing.T) {
	a := Scope("p", map[string]string{"a": "1", "b": "2"})
	b := Scope("p", map[string]string{"b": "2", "a": "1"})
	if a != b {
		t.Fatalf("%q != %q", a, b)
	}
	// A value holding separators must not collide with two filters.
	x := Scope("p", map[string]string{"a": "1&b=2"})
	if x == a || !strings.HasPrefix(x, "p&a=") {
		t.Fatalf("ambiguous scope %q", x)
	}
}

func TestEmptyKeyIsRandom(t *testing.T) {
	p := Position{Dir: Next, CreatedAt: 1, ID: 1}
	s := NewCodec(nil).Encode("x", p)
	if _, err := NewCodec(nil).Decode("x", s); err == nil {
		t.Fatal("two codecs with random keys accepted each other's cursors")
	}
}

// FuzzDecodeCursor checks that Decode never panics and accepts nothing but
// what Encode produced: any accepted string re-encodes to itself.
func FuzzDecodeCursor(f *testing.F) {
	c := NewCodec(testKey)
	scope := Scope("chantiers", nil)
	f.Add(c.Encode(scope, Position{Dir: Next, CreatedAt: 1, ID: 2}))
	f.Add(c.Encode(scope, Position{Dir: Prev, CreatedAt: 1 << 50, ID: 1 << 40}))
	f.Add("")
	f.Add(".")
	f.Add("AQAAAAAAAAAAAQAAAAAAAAAC.")
	f.Add(strings.Repeat("A", 24) + "." + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := c.Decode(scope, s)
		if err != nil {
			if err != ErrInvalidCursor {
				t.Fatalf("unexpected error type %v", err)
			}
			return
		}
		if again := c.Encode(scope, p); again != s {
			t.Fatalf("accepted %q which Encode spells %q", s, again)
		}
	})
}
