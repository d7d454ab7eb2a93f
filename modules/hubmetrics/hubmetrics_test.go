package hubmetrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/hubchantier/hubgate/internal/testutil/hubtest"
	"github.com/hubchantier/hubgate/modules/hub"
)

func counter(t *testing.T, method, endpoint, status string) float64 {
	t.Helper()
	var m dto.Metric
	if err := hub.GetMetrics().RequestsTotal.WithLabelValues(method, endpoint, status).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func histogram(t *testing.T, method, endpoint string) (uint64, float64) {
	t.Helper()
	var m dto.Metric
	obs := hub.GetMetrics().RequestDuration.WithLabelValues(method, endpoint)
	if err := obs.(interface{ Write(*dto.Metric) error }).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func TestServeHTTP(t *testing.T) {
	tests := []struct {
		name           string
		method, path   string
		next           caddyhttp.HandlerFunc
		wantMethod     string
		wantEndpoint   string
		wantStatus     string
		wantErr        bool
		wantBodyOnWire string
	}{
		{"written status", "GET", "/api/v1/chantiers/42", func(w http.ResponseWriter, _ *http.Request) error {
			w.WriteHeader(404)
			return nil
		}, "GET", "/api/v1/chantiers/{id}", "404", false, ""},
		{"nothing written is 200", "DELETE", "/api/v1/pointages/7", func(http.ResponseWriter, *http.Request) error {
			return nil
		}, "DELETE", "/api/v1/pointages/{id}", "200", false, ""},
		{"body streams through", "POST", "/api/v1/documents", func(w http.ResponseWriter, _ *http.Request) error {
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"id":"1"}`))
			return nil
		}, "POST", "/api/v1/documents", "201", false, `{"id":"1"}`},
		{"handler error takes its status", "GET", "/api/v1/signalements", func(http.ResponseWriter, *http.Request) error {
			return caddyhttp.Error(503, errors.New("no upstreams available"))
		}, "GET", "/api/v1/signalements", "503", true, ""},
		{"plain error is 500", "GET", "/healthz", func(http.ResponseWriter, *http.Request) error {
			return errors.New("boom")
		}, "GET", "/healthz", "500", true, ""},
		{"unknown method is OTHER, unknown path is other", "BREW", "/coffee/pot/1", func(w http.ResponseWriter, _ *http.Request) error {
			w.WriteHeader(405)
			return nil
		}, "OTHER", "other", "405", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			h := new(Handler)
			if err := h.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			h.routes = hubtest.HubRoutes(t) // what the default Caddyfile's hub app loads
			clock := time.Unix(1000, 0)
			h.now = func() time.Time { clock = clock.Add(250 * time.Millisecond); return clock }
			before := counter(t, tt.wantMethod, tt.wantEndpoint, tt.wantStatus)
			n0, s0 := histogram(t, tt.wantMethod, tt.wantEndpoint)

			r := httptest.NewRequest(tt.method, tt.path, nil)
			w := httptest.NewRecorder()
			err := h.ServeHTTP(w, r, tt.next)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if got := counter(t, tt.wantMethod, tt.wantEndpoint, tt.wantStatus) - before; got != 1 {
				t.Fatalf("api_requests_total{%s,%s,%s} rose by %v, want 1", tt.wantMethod, tt.wantEndpoint, tt.wantStatus, got)
			}
			n1, s1 := histogram(t, tt.wantMethod, tt.wantEndpoint)
			if n1-n0 != 1 || s1-s0 != 0.25 {
				t.Fatalf("duration: %d observations, %v s; want 1 of 0.25 s", n1-n0, s1-s0)
			}
			if w.Body.String() != tt.wantBodyOnWire {
				t.Fatalf("body %q", w.Body.String())
			}
		})
	}
}

func TestMethod(t *testing.T) {
	for in, want := range map[string]string{
		"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE",
		"OPTIONS": "OPTIONS", "CONNECT": "CONNECT", "TRACE": "TRACE",
		"get": "OTHER", "PROPFIND": "OTHER", "": "OTHER", "X-RANDOM-123": "OTHER",
	} {
		if got := Method(in); got != want {
			t.Errorf("Method(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatusLabel(t *testing.T) {
	for in, want := range map[int]string{200: "200", 499: "499", 99: "other", 1000: "other", 0: "other"} {
		if got := statusLabel(in); got != want {
			t.Errorf("statusLabel(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		input   string
		wantErr bool
	}{
		{"hub_metrics", false},
		{"hub_metrics extra", true},
		{"hub_metrics {\n\tfoo\n}", true},
	}
	for _, tt := range tests {
		err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v", tt.input, err)
		}
	}
}

// TestWithoutHubAppNoResourceIsNamed: a config with hub_metrics and no hub
// app labels by the generic vocabulary (hub.DefaultRoutes), which names no
// upstream's resource: bounded, and generic.
func TestWithoutHubAppNoResourceIsNamed(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	h := new(Handler)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	before := counter(t, "GET", "/api/v1/other", "200")
	r := httptest.NewRequest("GET", "/api/v1/chantiers/42", nil)
	if err := h.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, "GET", "/api/v1/other", "200") - before; got != 1 {
		t.Fatalf("api_requests_total{GET,/api/v1/other,200} rose by %v, want 1", got)
	}
}
