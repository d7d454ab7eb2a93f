package hubaudit

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

// BenchmarkServeHTTP is hub_audit's warm path: a GET with an identity,
// its record built, sealed, queued and made durable (write + fsync by the
// group commit) before the 200 goes out. "tmp" journals in the test's
// temporary directory on disk, so ns/op includes waiting for the disk;
// -cpu 2 with b.RunParallel shows the group commit sharing fsyncs.
func BenchmarkServeHTTP(b *testing.B) {
	alice := &hub.Identity{Subject: "7", Method: "api_key", KeyID: "key1"}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		hub.SetIdentity(r, alice)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":1}`))
		return nil
	})
	serve := func(b *testing.B, h *Handler) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/api/v1/chantiers/1", nil)
		r.Header.Set("User-Agent", "bench/1")
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, "192.0.2.10")
		if err := h.ServeHTTP(w, r, next); err != nil || w.Code != http.StatusOK {
			b.Fatalf("%d %v", w.Code, err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		h := testHandler(b)
		b.ReportAllocs()
		defer testutil.ReportCPU(b)()
		for b.Loop() {
			serve(b, h)
		}
	})
	// In memory (/dev/shm, where it exists): fsync costs nothing, so
	// ns/op is the handler's own CPU, which the disk's noise hides above.
	b.Run("serial-shm", func(b *testing.B) {
		dir, err := os.MkdirTemp("/dev/shm", "hubaudit-bench-")
		if err != nil {
			b.Skip("no /dev/shm")
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		h := testHandler(b)
		h.journal.Close()
		h.journal = openTest(b, dir, 1<<20)
		b.Cleanup(func() { h.journal.Close() })
		b.ReportAllocs()
		defer testutil.ReportCPU(b)()
		for b.Loop() {
			serve(b, h)
		}
	})
	b.Run("parallel16", func(b *testing.B) {
		h := testHandler(b)
		b.SetParallelism(8) // 16 goroutines on 2 CPUs, as the bench's 16 connections
		b.ReportAllocs()
		defer testutil.ReportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve(b, h)
			}
		})
	})
}
