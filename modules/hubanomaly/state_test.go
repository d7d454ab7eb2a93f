package hubanomaly

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/hubchantier/hubgate/modules/hub"
)

func counter(t *testing.T, rule string) float64 {
	t.Helper()
	var m dto.Metric
	if err := getMetrics().anomalies.WithLabelValues(rule).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func requestWith(id *hub.Identity) *http.Request {
	w := httptest.NewRecorder()
	r := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/", nil), caddy.NewReplacer(), w, nil)
	if id != nil {
		hub.SetIdentity(r, id)
	}
	caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, "10.0.0.1")
	return r
}

func TestDistinctSetBounded(t *testing.T) {
	var s distinctSet
	now := time.Unix(1000, 0).UnixNano()
	for i := 0; i < 10000; i++ {
		if n := s.add(uint64(i), now+int64(i), time.Hour, 20); n > 20 {
			t.Fatalf("after %d values: %d held, want at most 20", i+1, n)
		}
	}
	if len(s.items) != 20 || cap(s.items) > 64 {
		t.Fatalf("len %d cap %d", len(s.items), cap(s.items))
	}
	// Values older than the window are forgotten.
	if n := s.add(1, now+int64(2*time.Hour), time.Hour, 20); n != 1 {
		t.Fatalf("after the window: %d held, want 1", n)
	}
	// The same value counts once.
	for i := 0; i < 5; i++ {
		s.add(1, now+int64(2*time.Hour)+int64(i), time.Hour, 20)
	}
	if len(s.items) != 1 {
		t.Fatalf("repeats: %d held, want 1", len(s.items))
	}
}

func TestPrincipalsLRU(t *testing.T) {
	c := newClock()
	h := newHandler(t, &Handler{MaxPrincipals: 64}, c, newFakeStore(c.Now))
	for i := 0; i < 2000; i++ {
		serve(t, h, req{ip: fmt.Sprintf("10.1.%d.%d", i/256, i%256)})
		serve(t, h, req{id: keyID(fmt.Sprint("key", i))})
	}
	if n := h.pool.anonymous.len(); n > 64 {
		t.Errorf("anonymous principals held: %d, want at most 64", n)
	}
	if n := h.pool.keyed.len(); n > 64 {
		t.Errorf("keyed principals held: %d, want at most 64", n)
	}
	// The most recent principal is still there: a scan completes.
	for i := 0; i < 20; i++ {
		serve(t, h, req{id: keyID("key1999"), path: fmt.Sprintf("/p/%d", i), status: 404})
	}
	if evs := events(h); len(evs) != 1 || evs[0].PrincipalID != "key1999" {
		t.Fatalf("events %v", rules(evs))
	}
}

// BenchmarkServeHTTP measures the handler's own cost per request (the next
// handler writes 200), without and with a block action (warm path).
func BenchmarkServeHTTP(b *testing.B) {
	for _, tt := range []struct {
		name string
		h    Handler
	}{
		{"detect only", Handler{}},
		{"with block action", Handler{Scan: &DistinctRule{Action: Action{Block: caddy.Duration(time.Minute)}}}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			c := newClock()
			h := tt.h
			newHandler(b, &h, c, newFakeStore(c.Now))
			w := httptest.NewRecorder()
			r := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/api/v1/chantiers/42", nil), caddy.NewReplacer(), w, nil)
			r.Header.Set("User-Agent", "erp-connector/2.1")
			hub.SetIdentity(r, keyID("k1"))
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
				w.WriteHeader(200)
				return nil
			})
			b.ReportAllocs()
			for b.Loop() {
				_ = h.ServeHTTP(w, r, next)
			}
		})
	}
}
