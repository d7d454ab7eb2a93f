package hubauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/apikey"
	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

// keyUpstream stands for the upstream's internal API as far as the hub
// resolver needs it for one API key: introspection of testKey and a
// revocation feed with no events that long-polls as asked (so the
// resolver's cache is trusted and its feed loop stays idle).
func keyUpstream(b *testing.B) *httptest.Server {
	id, secret, err := apikey.Parse(testKey)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case contract.PathIntrospect:
			_ = json.NewEncoder(w).Encode(contract.Introspection{Active: true, ID: id, UserID: "7", Role: "conducteur",
				Scopes: []string{"read"}, Status: "active", Secrets: []contract.KeySecret{{Hash: apikey.Hash(secret)}}})
		case contract.PathRevocations:
			if wait, _ := strconv.Atoi(r.URL.Query().Get("wait")); wait > 0 {
				select {
				case <-r.Context().Done():
				case <-time.After(time.Duration(wait) * time.Second):
				}
			}
			_, _ = w.Write([]byte(`{"events":[],"last_seq":0}`))
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkServeHTTP is hub_auth's warm path with the real hub resolver:
// the key parsed and hashed, its cache entry found, the identity recorded,
// then — where the proxy's header_up evaluates {hub.assertion} — the
// assertion signed. The request itself is built outside the timer's
// interest as little as possible: PrepareRequest and the replacer are part
// of what Caddy does anyway, and are measured in the "bare" sub-benchmark
// to subtract.
func BenchmarkServeHTTP(b *testing.B) {
	srv := keyUpstream(b)
	res := hub.NewResolver(hub.ResolverConfig{Upstream: srv.URL, Secret: "s", KeyCacheTTL: 5 * time.Minute,
		NegativeCacheTTL: 30 * time.Second, RevocationWait: 5 * time.Second, UsageInterval: time.Hour}, zap.NewNop())
	res.Start()
	b.Cleanup(func() { _ = res.Destruct() })
	h := &Handler{Rules: testRules(), ResourcePrefixes: DefaultResourcePrefixes, Realm: "hubgate",
		resolver: resolverAdapter{res}, secret: testSecret, signer: assertion.NewSigner(testSecret), log: zap.NewNop(), now: time.Now}
	for _, r := range h.Rules {
		if err := r.compile(); err != nil {
			b.Fatal(err)
		}
	}
	proxyOps := headers.HeaderOps{Set: http.Header{assertion.Header: {"{" + hub.AssertionPlaceholder + "}"}}}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		proxyOps.ApplyToRequest(r)
		if r.Header.Get(assertion.Header) == "" {
			b.Fatal("no assertion")
		}
		return nil
	})
	serve := func(b *testing.B, h caddyhttp.MiddlewareHandler) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/api/v1/chantiers/1", nil)
		r.Header.Set("X-API-Key", testKey)
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, "127.0.0.1")
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	// Warm: the feed has answered and the key is cached.
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/api/v1/chantiers/1", nil)
		r.Header.Set("X-API-Key", testKey)
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		if _, err := res.APIKey(r.Context(), testKey); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the key never resolved")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Run("hub_auth", func(b *testing.B) {
		b.ReportAllocs()
		defer testutil.ReportCPU(b)()
		for b.Loop() {
			serve(b, h)
		}
	})
	b.Run("bare", func(b *testing.B) {
		bare := middlewareFunc(func(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
			r.Header.Set(assertion.Header, "x")
			return next.ServeHTTP(w, r)
		})
		b.ReportAllocs()
		defer testutil.ReportCPU(b)()
		for b.Loop() {
			serve(b, bare)
		}
	})
}

// middlewareFunc adapts a function to caddyhttp.MiddlewareHandler.
type middlewareFunc func(http.ResponseWriter, *http.Request, caddyhttp.Handler) error

func (f middlewareFunc) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return f(w, r, next)
}
