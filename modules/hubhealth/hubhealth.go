// Package hubhealth is the gateway's own health check: the hub_health
// handler answers with the state of what this gateway process needs
// besides the upstream (the shared store, the audit journal), for load
// balancers and orchestrators. The upstream's own /healthz covers its
// database (docs/deployment.md, "Health checks").
package hubhealth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("hub_health", parseCaddyfile)
	// A responder: where Caddy's own respond goes.
	httpcaddyfile.RegisterDirectiveOrder("hub_health", httpcaddyfile.Before, "respond")
}

// DefaultTimeout bounds each check.
const DefaultTimeout = 2 * time.Second

// Handler answers GET with every health check of the hub app: 200
// {"status":"ok","checks":{"journal":"ok","store":"ok"}} when all pass,
// else 503 application/problem+json of type unhealthy whose checks member
// names what failed ("failing"; with Details, the error, which may name
// internal addresses: for private listeners only).
type Handler struct {
	// Timeout bounds each check. Default 2s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Details puts each failing check's error in the answer instead of
	// "failing". Default false (the public listener's setting).
	Details bool `json:"details,omitempty"`

	app *hub.App
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_health",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision finds the hub app, whose checks it runs.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(DefaultTimeout)
	}
	v, err := ctx.App("hub")
	if err != nil {
		return fmt.Errorf("hub_health needs the hub app: %w", err)
	}
	h.app = v.(*hub.App)
	return nil
}

// ServeHTTP runs the checks concurrently and answers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		hub.WriteProblem(w, r, problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed", "health checks answer GET"))
		return nil
	}
	names, checks := h.app.HealthChecks()
	results := make(map[string]string, len(names))
	var mu sync.Mutex
	var wg sync.WaitGroup
	healthy := true
	for i, name := range names {
		wg.Add(1)
		go func(name string, check hub.HealthCheck) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.Timeout))
			defer cancel()
			res := "ok"
			if err := check(ctx); err != nil {
				res = "failing"
				if h.Details {
					res = err.Error()
				}
			}
			mu.Lock()
			results[name] = res
			if res != "ok" {
				healthy = false
			}
			mu.Unlock()
		}(name, checks[i])
	}
	wg.Wait()
	w.Header().Set("Cache-Control", "no-store")
	if !healthy {
		hub.WriteProblem(w, r, problem.New(http.StatusServiceUnavailable, "unhealthy", "Gateway unhealthy",
			"a part this gateway needs is failing; see checks").With("checks", results))
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	return json.NewEncoder(w).Encode(map[string]any{"status": "ok", "checks": results})
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_health {
//	    timeout <duration>   # each check's bound, default 2s
//	    details              # failing checks give their error (private listeners only)
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "timeout":
			if !d.NextArg() {
				return d.ArgErr()
			}
			v, err := caddy.ParseDuration(d.Val())
			if err != nil || v <= 0 {
				return d.Errf("hub_health: timeout %q is not a positive duration", d.Val())
			}
			h.Timeout = caddy.Duration(v)
			if d.NextArg() {
				return d.ArgErr()
			}
		case "details":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Details = true
		default:
			return d.Errf("hub_health: unknown option %q", d.Val())
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
