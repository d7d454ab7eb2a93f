package hubcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hubchantier/hubgate/internal/problem"
)

func init() {
	caddy.RegisterModule(AdminPurge{})
}

// AdminPurge is the admin API endpoint that purges cached responses:
//
//	POST /hub/cache/purge
//	{"key": "<hex key from Cache-Status>"} | {"tag": "<Cache-Tag>"} |
//	{"path_prefix": "/api/v1/widgets"} | {"principal": "<user id>"}
//
// Every purge is one generation bump in the store, so it is O(1) whatever
// the number of entries, and every gateway sharing the store sees it.
type AdminPurge struct{}

// CaddyModule returns the Caddy module information.
func (AdminPurge) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.hub_cache",
		New: func() caddy.Module { return new(AdminPurge) },
	}
}

// Routes returns the admin routes.
func (AdminPurge) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/hub/cache/purge", Handler: caddy.AdminHandlerFunc(handlePurge)}}
}

// purgeRequest is the body of a purge; exactly one member is set.
type purgeRequest struct {
	Key        string `json:"key,omitempty"`
	Tag        string `json:"tag,omitempty"`
	PathPrefix string `json:"path_prefix,omitempty"`
	Principal  string `json:"principal,omitempty"`
}

// tag returns the hashed tag the purge bumps.
func (p purgeRequest) tag() (string, error) {
	n := 0
	for _, v := range []string{p.Key, p.Tag, p.PathPrefix, p.Principal} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return "", errors.New(`give exactly one of "key", "tag", "path_prefix", "principal"`)
	}
	switch {
	case p.Key != "":
		if len(p.Key) != 64 || strings.Trim(strings.ToLower(p.Key), "0123456789abcdef") != "" {
			return "", errors.New("key must be the 64 hex digits of Cache-Status key")
		}
		return hashTag(tagKey + strings.ToLower(p.Key)), nil
	case p.Tag != "":
		return hashTag(tagCustom + p.Tag), nil
	case p.PathPrefix != "":
		if !strings.HasPrefix(p.PathPrefix, "/") {
			return "", errors.New("path_prefix must start with /")
		}
		c := cleanPath(p.PathPrefix)
		if c == "/" {
			// The root prefix is not among an entry's tags: purge "/api"
			// and the like instead.
			return "", errors.New("path_prefix must name at least one segment")
		}
		return hashTag(tagPrefix + c), nil
	default:
		return hashTag(tagPrincipal + p.Principal), nil
	}
}

// handlePurge serves POST /hub/cache/purge. Errors are problem+json.
func handlePurge(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", "use POST"))
		return nil
	}
	var req purgeRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		problem.Write(w, r, problem.New(http.StatusBadRequest, "invalid-purge", "Invalid purge request", "the body must be a JSON object: "+err.Error()))
		return nil
	}
	tag, err := req.tag()
	if err != nil {
		problem.Write(w, r, problem.New(http.StatusBadRequest, "invalid-purge", "Invalid purge request", err.Error()))
		return nil
	}
	var engines []*engine
	enginePool.Range(func(_, v any) bool {
		engines = append(engines, v.(*engine))
		return true
	})
	if len(engines) == 0 {
		problem.Write(w, r, problem.New(http.StatusNotFound, "cache-not-configured", "No cache", "no hub_cache handler is loaded"))
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	for _, g := range engines {
		if err := g.b.bump(ctx, []string{tag}); err != nil {
			w.Header().Set("Retry-After", "1")
			problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "cache-store-unavailable", "Cache store unavailable",
				fmt.Sprintf("the purge could not be written: %v", err)))
			return nil
		}
	}
	cacheMetrics().invalidated.Add(float64(len(engines)))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"purged": true, "stores": len(engines)})
	return nil
}

// Interface guards.
var _ caddy.AdminRouter = (*AdminPurge)(nil)
