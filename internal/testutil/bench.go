package testutil

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchRequest builds a request as Caddy hands it to a handler
// (caddyhttp.PrepareRequest: replacer, vars, the client IP set).
func BenchRequest(w http.ResponseWriter, method, target string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, "192.0.2.10")
	return r
}

// BenchServe is the ServeHTTP benchmark of every module (issue 12, figures
// in docs/performance.md): "handler" serves requests made by newReq
// through h then next; "setup" serves the same requests with next alone —
// the test's own cost (recorder, request, PrepareRequest), to subtract
// from "handler" for the handler's ns, bytes and allocations. check
// validates each answer (nil: any).
func BenchServe(b *testing.B, h caddyhttp.MiddlewareHandler, newReq func(w http.ResponseWriter) *http.Request,
	next caddyhttp.Handler, check func(w *httptest.ResponseRecorder) error) {
	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		defer ReportCPU(b)()
		for b.Loop() {
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, newReq(w), next); err != nil {
				b.Fatal(err)
			}
			if check != nil {
				if err := check(w); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("setup", func(b *testing.B) {
		b.ReportAllocs()
		defer ReportCPU(b)()
		for b.Loop() {
			w := httptest.NewRecorder()
			if err := next.ServeHTTP(w, newReq(w)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// ReportCPU starts measuring the process's CPU time; the function it
// returns, called after the b.Loop loop, reports it per operation as
// "cpu-µs/op" (the bench harness's "CPU µs/request", for go test -bench).
func ReportCPU(b *testing.B) func() {
	start := CPUTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(CPUTime()-start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
		}
	}
}
