package hub

import (
	"context"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestReloadRefusesIssuerChange: once an app has started, a config with
// another issuer fails to provision unless it allows the change; the same
// issuer, or no running app (hubgate validate), always provisions.
func TestReloadRefusesIssuerChange(t *testing.T) {
	t.Cleanup(func() { runningIssuer.Store(nil) })
	secret := strings.Repeat("s", MinSecretLen)
	provision := func(a *App) error {
		t.Helper()
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		t.Cleanup(cancel)
		a.Upstream, a.Secret = "http://127.0.0.1:1", secret
		err := a.Provision(ctx)
		if err == nil {
			t.Cleanup(func() { _ = a.Cleanup() })
		}
		return err
	}
	runningIssuer.Store(nil)
	if err := provision(&App{Issuer: "https://other.example"}); err != nil {
		t.Fatalf("no running app: %v", err)
	}
	running := "https://api.example.com"
	runningIssuer.Store(&running)
	if err := provision(&App{Issuer: running}); err != nil {
		t.Fatalf("same issuer: %v", err)
	}
	err := provision(&App{}) // the default issuer, as a reload without HUB_JWT_ISSUER got
	if err == nil || !strings.Contains(err.Error(), "allow_issuer_change") {
		t.Fatalf("issuer change accepted: %v", err)
	}
	if err := provision(&App{Issuer: "https://new.example", AllowIssuerChange: true}); err != nil {
		t.Fatalf("allowed change: %v", err)
	}
}
