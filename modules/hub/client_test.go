package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	dto "github.com/prometheus/client_model/go"

	"github.com/hubchantier/hubgate/internal/contract"
)

// internalCallCount reads hub_internal_requests_total{endpoint,outcome}.
func internalCallCount(t *testing.T, endpoint, outcome string) float64 {
	t.Helper()
	var m dto.Metric
	if err := internalCalls.WithLabelValues(endpoint, outcome).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestInternalClient: the client sends the shared secret and JSON, decodes
// a 2xx, hands back a non-2xx answer's status and start of body without an
// error, and counts each call by contract path and status class.
func TestInternalClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var req contract.IntrospectRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.URL.Path != contract.PathIntrospect {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if req.KeyID != "known" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"active":false}`))
			return
		}
		_ = json.NewEncoder(w).Encode(contract.Introspection{ID: "known", Status: "active", Active: true})
	}))
	defer srv.Close()
	c := NewInternalClient(srv.URL, "s3cret")
	ok0, nf0 := internalCallCount(t, contract.PathIntrospect, "2xx"), internalCallCount(t, contract.PathIntrospect, "4xx")

	var rec contract.Introspection
	resp, err := c.Do(context.Background(), InternalCall{Method: http.MethodPost, Path: contract.PathIntrospect,
		Body: contract.IntrospectRequest{KeyID: "known"}, Out: &rec})
	if err != nil || resp.Status != http.StatusOK || !resp.OK() || rec.ID != "known" || !rec.Active || resp.Detail != nil {
		t.Fatalf("known key: %+v %v, record %+v", resp, err, rec)
	}
	rec = contract.Introspection{}
	resp, err = c.Do(context.Background(), InternalCall{Method: http.MethodPost, Path: contract.PathIntrospect,
		Body: []byte(`{"key_id":"other"}`), Out: &rec})
	if err != nil || resp.Status != http.StatusNotFound || resp.OK() || string(resp.Detail) != `{"active":false}` || rec.ID != "" {
		t.Fatalf("unknown key: %+v %v, record %+v", resp, err, rec)
	}
	if d := internalCallCount(t, contract.PathIntrospect, "2xx") - ok0; d != 1 {
		t.Errorf("2xx introspections counted %v, want 1", d)
	}
	if d := internalCallCount(t, contract.PathIntrospect, "4xx") - nf0; d != 1 {
		t.Errorf("4xx introspections counted %v, want 1", d)
	}
}

// TestInternalClientRetry: a call marked idempotent is sent once more after
// a transport failure (the connection dropped without an answer); any
// other call is not.
func TestInternalClientRetry(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%2 == 1 {
			// Every other request loses its connection before an answer.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := NewInternalClient(srv.URL, "s3cret")
	c.retryAfter = 0
	errors0 := internalCallCount(t, contract.PathUsage, "error")

	resp, err := c.Do(context.Background(), InternalCall{Method: http.MethodPost, Path: contract.PathUsage,
		Body: contract.UsageReport{Keys: map[string]string{}}, Idempotent: true})
	if err != nil || resp.Status != http.StatusNoContent || calls.Load() != 2 {
		t.Fatalf("idempotent call: %+v %v after %d attempts, want 204 after 2", resp, err, calls.Load())
	}
	if d := internalCallCount(t, contract.PathUsage, "error") - errors0; d != 1 {
		t.Errorf("failed attempts counted %v, want 1", d)
	}

	calls.Store(0)
	if _, err := c.Do(context.Background(), InternalCall{Method: http.MethodPost, Path: contract.PathAnomalies,
		Body: []byte(`{}`)}); err == nil || calls.Load() != 1 {
		t.Fatalf("call not marked idempotent: err %v after %d attempts, want an error after 1", err, calls.Load())
	}
}

// TestInternalEndpointLabel: the metric's endpoint label is a contract
// path, never a query or anything a caller made up.
func TestInternalEndpointLabel(t *testing.T) {
	for path, want := range map[string]string{
		contract.PathRevocations + "?since=12&wait=25": contract.PathRevocations,
		contract.PathJWKS:        contract.PathJWKS,
		contract.PathAudit:       contract.PathAudit,
		"/internal/keys/hbk_123": "other",
		"":                       "other",
	} {
		if got := endpointLabel(path); got != want {
			t.Errorf("endpointLabel(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestAppOwnsOneInternalClient: the hub app hands every module the client
// of its pooled resolver, so two configs with the same upstream and secret
// (a reload) share one client and its connections, and another secret
// gets its own. Provisioning makes no call.
func TestAppOwnsOneInternalClient(t *testing.T) {
	secret := strings.Repeat("s", MinSecretLen)
	provision := func(secret string) *App {
		t.Helper()
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		t.Cleanup(cancel)
		a := &App{Upstream: "http://127.0.0.1:1", Secret: secret}
		if err := a.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Cleanup() })
		return a
	}
	a, b, c := provision(secret), provision(secret), provision(secret+"x")
	if a.Internal() == nil || a.Internal() != a.Resolver().client {
		t.Fatalf("the app's client %p is not its resolver's %p", a.Internal(), a.Resolver().client)
	}
	if b.Internal() != a.Internal() {
		t.Error("two configs with the same upstream and secret have two clients")
	}
	if c.Internal() == a.Internal() {
		t.Error("configs with different secrets share a client")
	}
}
