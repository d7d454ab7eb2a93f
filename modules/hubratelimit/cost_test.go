package hubratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/modules/hub"
)

// TestChargesCost: a request whose cost hub_graphql set (hub.SetCost)
// consumes that many units of every window; the headers show what is left
// and a request that does not fit is refused without consuming.
func TestChargesCost(t *testing.T) {
	c := newClock()
	h := newHandler(t, &Handler{Default: []string{"10/hour"}}, c)
	send := func(cost int64) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := caddyhttp.PrepareRequest(httptest.NewRequest("POST", "/graphql", nil), caddy.NewReplacer(), w, nil)
		hub.SetIdentity(r, keyID("a"))
		hub.SetCost(r, cost)
		caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, "10.0.0.1")
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })
		if err := h.ServeHTTP(w, r, next); err != nil {
			t.Fatal(err)
		}
		return w
	}
	if w := send(7); w.Code != 200 || w.Header().Get(fieldRemaining) != "3" {
		t.Fatalf("cost 7: %d, remaining %q, want 200 and 3", w.Code, w.Header().Get(fieldRemaining))
	}
	if w := send(4); w.Code != 429 || w.Header().Get(fieldRemaining) != "3" {
		t.Fatalf("cost 4 with 3 left: %d, remaining %q, want 429 and 3", w.Code, w.Header().Get(fieldRemaining))
	}
	if w := send(0); w.Code != 200 || w.Header().Get(fieldRemaining) != "2" {
		t.Fatalf("no cost (1): %d, remaining %q, want 200 and 2", w.Code, w.Header().Get(fieldRemaining))
	}
}
