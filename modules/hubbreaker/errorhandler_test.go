package hubbreaker

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestErrorHandler(t *testing.T) {
	open, _, _, clk := newTestCore(t, testSettings())
	for range 3 {
		open.RecordMetric(500, 0)
	}
	clk.Add(1500 * time.Millisecond) // 3598.5 s left → 3599
	closed, _, _, _ := newTestCore(t, testSettings())
	register("t-open", open)
	register("t-closed", closed)
	t.Cleanup(func() { unregister("t-open", open); unregister("t-closed", closed) })

	tests := []struct {
		name       string
		breaker    string
		all        bool
		path       string
		err        error
		wantStatus int // 0: passed on to next
		wantRetry  string
		wantType   string
	}{
		{name: "open breaker, 503", breaker: "t-open", err: caddyhttp.Error(503, errors.New("no upstreams available")),
			wantStatus: 503, wantRetry: "3599", wantType: "upstream-unavailable"},
		{name: "open breaker, 502 (an earlier request)", breaker: "t-open", err: caddyhttp.Error(502, errors.New("dial"))},
		{name: "open breaker, plain error", breaker: "t-open", err: errors.New("boom")},
		// Issue 10: the passive health checks' 503 carries Retry-After
		// and the same problem type as the breaker's.
		{name: "closed breaker, 503 (passive health)", breaker: "t-closed", err: caddyhttp.Error(503, errors.New("no upstreams available")),
			wantStatus: 503, wantRetry: "10", wantType: "upstream-unavailable"},
		{name: "unknown breaker", breaker: "nope", err: caddyhttp.Error(503, errors.New("no upstreams available")),
			wantStatus: 503, wantRetry: "10", wantType: "upstream-unavailable"},
		{name: "all_errors, 502", breaker: "t-closed", all: true, err: caddyhttp.Error(502, errors.New("dial")),
			wantStatus: 502, wantType: "gateway-error"},
		{name: "all_errors, plain error", breaker: "t-closed", all: true, err: errors.New("boom"),
			wantStatus: 500, wantType: "gateway-error"},
		{name: "all_errors, no error", breaker: "t-closed", all: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &ErrorHandler{Breaker: tt.breaker, AllErrors: tt.all}
			if err := h.Provision(caddy.Context{}); err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/api/v1/chantiers", nil)
			if tt.err != nil {
				r = r.WithContext(context.WithValue(r.Context(), caddyhttp.ErrorCtxKey, tt.err))
			}
			w := httptest.NewRecorder()
			nextCalled := false
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { nextCalled = true; return nil })
			if err := h.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			if tt.wantStatus == 0 {
				if !nextCalled || w.Header().Get("Retry-After") != "" {
					t.Fatalf("next called %v, Retry-After %q: want pass-through", nextCalled, w.Header().Get("Retry-After"))
				}
				return
			}
			if nextCalled || w.Code != tt.wantStatus || w.Header().Get("Retry-After") != tt.wantRetry ||
				w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("next %v, status %d, Retry-After %q, type %q", nextCalled, w.Code, w.Header().Get("Retry-After"), w.Header().Get("Content-Type"))
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body["type"] != "urn:hubchantier:problem:"+tt.wantType || body["status"] != float64(tt.wantStatus) {
				t.Fatalf("body %s", w.Body.Bytes())
			}
			if tt.wantRetry != "" && body["retry_after"] != mustFloat(tt.wantRetry) {
				t.Fatalf("retry_after member: %s", w.Body.Bytes())
			}
		})
	}
}

// On the OAuth endpoints the gateway's errors are RFC 6749 §5.2 errors.
func TestErrorHandlerOAuthEndpoint(t *testing.T) {
	h := &ErrorHandler{Breaker: "nope", AllErrors: true}
	if err := h.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		status int
		code   string
	}{{503, "temporarily_unavailable"}, {413, "invalid_request"}, {502, "server_error"}} {
		r := httptest.NewRequest("POST", "/oauth/token", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.ErrorCtxKey, caddyhttp.Error(tt.status, errors.New("x"))))
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, nil); err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != tt.status || body["error"] != tt.code ||
			w.Header().Get("Content-Type") != "application/json;charset=UTF-8" {
			t.Fatalf("%d: %d %q %s", tt.status, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
	}
}

func mustFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return f
}

func TestPoolKeepsStateAcrossReload(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	b1 := &Breaker{Name: "t-reload", ConsecutiveFailures: 2}
	if err := b1.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	b1.RecordMetric(500, 0)
	b1.RecordMetric(500, 0)
	if b1.OK() {
		t.Fatal("not open after 2 failures")
	}
	// A reload provisions the new config before cleaning up the old one.
	b2 := &Breaker{Name: "t-reload", ConsecutiveFailures: 2}
	if err := b2.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b1.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if b2.OK() || lookup("t-reload") != b2.core {
		t.Fatal("the reloaded breaker forgot it was open")
	}
	// Different settings: fresh state under the same name.
	b3 := &Breaker{Name: "t-reload", ConsecutiveFailures: 3}
	if err := b3.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b2.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if !b3.OK() || lookup("t-reload") != b3.core {
		t.Fatal("new settings must start closed and be the registered breaker")
	}
	if err := b3.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if lookup("t-reload") != nil {
		t.Fatal("registry still holds a breaker no config uses")
	}
}
