package hubmetrics

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestUntrustedForwardingWarns: X-Forwarded-For from a peer outside
// trusted_proxies is logged once per interval, naming the peer; from a
// trusted proxy, or without the header, nothing is logged.
func TestUntrustedForwardingWarns(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	f := &forwardedWarner{log: zap.New(core)}
	at := time.Unix(1_800_000_000, 0)
	req := func(xff string, trusted bool) {
		r := httptest.NewRequest("GET", "/api/v1/x", nil)
		r.RemoteAddr = "10.1.2.3:5555"
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, nil)
		caddyhttp.SetVar(r.Context(), caddyhttp.TrustedProxyVarKey, trusted)
		f.check(r.WithContext(context.WithoutCancel(r.Context())), at)
	}
	req("", false)
	req("203.0.113.7", true)
	if logs.Len() != 0 {
		t.Fatalf("warned without cause: %v", logs.All())
	}
	req("203.0.113.7", false)
	req("203.0.113.8", false)
	if logs.Len() != 1 || logs.All()[0].ContextMap()["peer"] != "10.1.2.3" {
		t.Fatalf("want one warning naming the peer: %v", logs.All())
	}
	at = at.Add(forwardedWarnEvery + time.Second)
	req("203.0.113.7", false)
	if logs.Len() != 2 {
		t.Fatalf("no new warning after the interval: %d", logs.Len())
	}
}
