package hub

import (
	"context"
	"sort"
)

// HealthCheck reports one part of the gateway as healthy (nil) or not.
type HealthCheck func(ctx context.Context) error

// RegisterHealthCheck adds a named check that hub_health runs (the audit
// journal registers "journal"). Call it from Provision; the app's own
// "store" check (the shared store answers) is always there.
func (a *App) RegisterHealthCheck(name string, check HealthCheck) {
	if a.health == nil {
		a.health = map[string]HealthCheck{}
	}
	a.health[name] = check
}

// HealthChecks returns the registered checks by name, the store's
// included, in name order.
func (a *App) HealthChecks() (names []string, checks []HealthCheck) {
	all := map[string]HealthCheck{"store": func(ctx context.Context) error { return a.store.Ping(ctx) }}
	for n, c := range a.health {
		all[n] = c
	}
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		checks = append(checks, all[n])
	}
	return names, checks
}
