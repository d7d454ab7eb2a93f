package hubcache

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

// BenchmarkServeHTTP: hub_cache's warm path, a hit for the same principal
// (the upstream is never called after the first request), on the memory
// store and, with HUB_TEST_REDIS_URL, on Redis.
func BenchmarkServeHTTP(b *testing.B) {
	stores := map[string]func(b *testing.B) hub.Store{
		"memory": func(b *testing.B) hub.Store {
			ms := &hub.MemoryStore{Name: "hubcache-bench-" + randHex()}
			if err := ms.Provision(caddy.Context{}); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = ms.Cleanup() })
			return ms.Store()
		},
	}
	if url := os.Getenv("HUB_TEST_REDIS_URL"); url != "" {
		stores["redis"] = func(b *testing.B) hub.Store {
			rs := &hub.RedisStore{URL: url, Prefix: "bench:hubcache:" + randHex() + ":"}
			if err := rs.Provision(caddy.Context{}); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = rs.Cleanup() }) // entries expire with their TTL
			return rs.Store()
		}
	}
	alice := &hub.Identity{Subject: "7", Role: "conducteur", Method: "api_key", KeyID: "key1", Scopes: []string{"read"}}
	const row = `{"id":1,"nom":"Chantier A","adresse":"1 rue du Port","statut":"en_cours","date_debut":"2025-03-01","version":3}`
	for name, newStore := range stores {
		b.Run(name, func(b *testing.B) {
			h := &Handler{Routes: hubChantierRoutes(), Related: hubChantierRelated()}
			if err := h.setDefaults(); err != nil {
				b.Fatal(err)
			}
			if err := h.Validate(); err != nil {
				b.Fatal(err)
			}
			h.log, h.now, h.metrics = zap.NewNop(), time.Now, hub.GetMetrics()
			g, key, err := engineFor(newStore(b), h.L1Entries, h.L1Bytes, zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _, _ = enginePool.Delete(key) })
			h.g, h.poolKey = g, key
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("ETag", `"v3"`)
				w.WriteHeader(http.StatusOK)
				_, err := io.WriteString(w, row)
				return err
			})
			newReq := func(w http.ResponseWriter) *http.Request {
				r := testutil.BenchRequest(w, http.MethodGet, "/api/v1/chantiers/1")
				hub.SetIdentity(r, alice)
				return r
			}
			// The first request fills the cache (stores may write it after
			// answering: wait for the hit).
			deadline := time.Now().Add(10 * time.Second)
			for {
				w := httptest.NewRecorder()
				if err := h.ServeHTTP(w, newReq(w), next); err != nil {
					b.Fatal(err)
				}
				if hit(w) {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("never a hit: %d %v", w.Code, w.Header())
				}
				time.Sleep(5 * time.Millisecond)
			}
			testutil.BenchServe(b, h, newReq, next, func(w *httptest.ResponseRecorder) error {
				if !hit(w) || w.Body.String() != row {
					return fmt.Errorf("not a hit: %d %v %s", w.Code, w.Header(), w.Body)
				}
				return nil
			})
		})
	}
}

// hit reports whether w was answered from the cache.
func hit(w *httptest.ResponseRecorder) bool {
	return w.Code == http.StatusOK && strings.Contains(w.Header().Get("Cache-Status"), "hit")
}
