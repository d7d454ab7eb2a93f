// Package testutil holds the fixtures that the tests of several packages
// share: a settable clock, the repository's paths, a next handler that
// records what reached it. It imports no hubgate package, so every
// package's tests may use it (modules/hub's included); fixtures that need
// the hub app's types are in testutil/hubtest. Imported by _test.go files
// only.
package testutil

import (
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// Start is the instant test clocks usually start at: fixed, so that
// failures replay, and with a fractional second, so that code rounding
// to whole seconds is exercised.
var Start = time.Unix(1_750_000_000, 250_000_000)

// Clock is an injectable clock, safe for concurrent use: tests move time
// instead of sleeping (pass c.Now where the code takes a func() time.Time).
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// RepoRoot is the repository's root directory, found from this file's
// location so that tests of any package can read configs/.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// HubRoutesFile is Hub Chantier's route vocabulary, the file the default
// Caddyfile loads (hubtest.HubRoutes provisions it).
func HubRoutesFile() string {
	return filepath.Join(RepoRoot(), "configs", "hub-routes.json")
}
