package hub

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestValidRequestID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"a", true},
		{"0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"svc.gateway:req_42", true},
		{"ABCxyz019._:-", true},
		{strings.Repeat("a", 128), true},
		{"", false},
		{strings.Repeat("a", 129), false},
		{strings.Repeat("a", 200), false},
		{"a b", false},
		{"a\tb", false},
		{"a\r\nX-Injected: 1", false},
		{"a\x00", false},
		{"a/b", false},
		{"a+b", false},
		{"a=b", false},
		{"a%20b", false},
		{"\"quoted\"", false},
		{"{hub.request_id}", false},
		{"é", false},
		{"réq", false},
	}
	for _, tt := range tests {
		if got := ValidRequestID(tt.id); got != tt.want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

// newVarsRequest returns a request carrying caddyhttp vars and a replacer,
// as Caddy's server sets them up.
func newVarsRequest(t *testing.T, clientID string, set bool) (*http.Request, *httptest.ResponseRecorder, *caddy.Replacer) {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/api/v1/chantiers", nil)
	if set {
		r.Header.Set(RequestIDHeader, clientID)
	}
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, w, nil)
	return r, w, repl
}

// TestEnsureRequestID: the id is always the gateway's (issue 10: a client
// choosing it could give two requests one id); what the client sent is
// kept, sanitized and bounded, as {hub.client_request_id}.
func TestEnsureRequestID(t *testing.T) {
	tests := []struct {
		name       string
		clientID   string
		sent       bool
		wantClient string
	}{
		{"no header", "", false, ""},
		{"empty header", "", true, ""},
		{"valid uuid kept as the client's", "0f8fad5b-d9cb-469f-a165-70867728950e", true, "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"valid short kept as the client's", "req-1", true, "req-1"},
		{"128 characters kept", strings.Repeat("x", 128), true, strings.Repeat("x", 128)},
		{"space sanitized", "a b", true, "a_b"},
		{"200 characters bounded", strings.Repeat("a", 200), true, strings.Repeat("a", 128)},
		{"header injection sanitized", "a\r\nb", true, "a__b"},
		{"non-ASCII sanitized", "réq", true, "r__q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w, repl := newVarsRequest(t, tt.clientID, tt.sent)
			id := EnsureRequestID(w, r)

			if tt.clientID != "" && id == tt.clientID {
				t.Fatalf("the client's id %q was used as the request id", tt.clientID)
			}
			// A fresh id is 16 random bytes in hex.
			if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
				t.Fatalf("generated id %q is not 32 hex characters", id)
			}
			if got := ClientRequestID(r); got != tt.wantClient {
				t.Fatalf("client request id = %q, want %q", got, tt.wantClient)
			}
			if got, _ := repl.GetString(ClientRequestIDPlaceholder); got != tt.wantClient {
				t.Errorf("placeholder {%s} = %q, want %q", ClientRequestIDPlaceholder, got, tt.wantClient)
			}
			if got := r.Header.Values(RequestIDHeader); len(got) != 1 || got[0] != id {
				t.Errorf("request header = %q, want [%q]", got, id)
			}
			if got := w.Header().Values(RequestIDHeader); len(got) != 1 || got[0] != id {
				t.Errorf("response header = %q, want [%q]", got, id)
			}
			if got := RequestID(r); got != id {
				t.Errorf("RequestID = %v, want %q", got, id)
			}
			if got, _ := repl.GetString(RequestIDPlaceholder); got != id {
				t.Errorf("placeholder {%s} = %q, want %q", RequestIDPlaceholder, got, id)
			}
		})
	}
}

// TestEnsureRequestIDSameClientID: two requests sending one X-Request-Id
// get two ids, and both keep the client's.
func TestEnsureRequestIDSameClientID(t *testing.T) {
	r1, w1, _ := newVarsRequest(t, "dup-1", true)
	r2, w2, _ := newVarsRequest(t, "dup-1", true)
	a, b := EnsureRequestID(w1, r1), EnsureRequestID(w2, r2)
	if a == b {
		t.Fatalf("two requests got one id %q", a)
	}
	if ClientRequestID(r1) != "dup-1" || ClientRequestID(r2) != "dup-1" {
		t.Fatalf("client ids = %q, %q", ClientRequestID(r1), ClientRequestID(r2))
	}
}

func TestEnsureRequestIDIdempotent(t *testing.T) {
	r, w, _ := newVarsRequest(t, "", false)
	first := EnsureRequestID(w, r)
	// A later handler may see a different client header (it was replaced);
	// the id stays the one chosen first.
	r.Header.Set(RequestIDHeader, "other")
	if second := EnsureRequestID(w, r); second != first {
		t.Fatalf("second call = %q, want %q", second, first)
	}
}

func TestEnsureRequestIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		r, w, _ := newVarsRequest(t, "", false)
		id := EnsureRequestID(w, r)
		if seen[id] {
			t.Fatalf("duplicate generated id %q", id)
		}
		seen[id] = true
	}
}

// TestEnsureRequestIDWithoutCaddyContext: outside a Caddy server (no vars,
// no replacer) the headers are still set and nothing panics.
func TestEnsureRequestIDWithoutCaddyContext(t *testing.T) {
	for _, ctx := range []context.Context{
		context.Background(),
		context.WithValue(context.Background(), caddyhttp.VarsCtxKey, map[string]any{}),
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		r.Header.Set(RequestIDHeader, "client-id")
		id := EnsureRequestID(w, r)
		if id == "client-id" || !ValidRequestID(id) {
			t.Fatalf("id = %q, want a generated one", id)
		}
		if got := w.Header().Get(RequestIDHeader); got != id {
			t.Fatalf("response header = %q, want %q", got, id)
		}
	}
}
