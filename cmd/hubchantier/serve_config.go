package main

import (
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/webhooks"
)

// publicURL reads HUB_PUBLIC_URL, the gateway's external base URL
// (docs/oauth2.md): an absolute http(s) URL without query or fragment, or
// empty (then no OAuth2 metadata is published).
func (c *cli) publicURL() (string, error) {
	raw := strings.TrimSpace(c.getenv("HUB_PUBLIC_URL"))
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, "?#") {
		return "", fmt.Errorf("HUB_PUBLIC_URL must be an absolute http(s) URL without credentials, query or fragment (e.g. https://api.example.com), got %q", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// loginThrottle reads HUB_LOGIN_MAX_FAILURES (default 5) and
// HUB_LOGIN_FAILURE_WINDOW (a Go duration, default 15m): the per-account
// slowdown of password checks (docs/auth.md).
func (c *cli) loginThrottle() (auth.LoginThrottleOptions, error) {
	var o auth.LoginThrottleOptions
	if v := c.getenv("HUB_LOGIN_MAX_FAILURES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("HUB_LOGIN_MAX_FAILURES must be a positive integer, got %q", v)
		}
		o.MaxFailures = n
	}
	if v := c.getenv("HUB_LOGIN_FAILURE_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return o, fmt.Errorf("HUB_LOGIN_FAILURE_WINDOW must be a duration of at least 1s (e.g. 15m), got %q", v)
		}
		o.Window = d
	}
	return o, nil
}

// dbPool applies the connection pool settings of the environment to d:
// HUB_DB_MAX_OPEN_CONNS (default 20 on PostgreSQL, 8 on SQLite),
// HUB_DB_MAX_IDLE_CONNS (default 10 / 2), HUB_DB_CONN_MAX_LIFETIME (default
// none) and HUB_DB_CONN_MAX_IDLE_TIME (default 5m on PostgreSQL). Several
// upstream instances share PostgreSQL's max_connections: size
// instances × max open below it (docs/upstream.md).
func (c *cli) dbPool(d *sql.DB) error {
	for _, n := range []struct {
		name string
		set  func(int)
	}{
		{"HUB_DB_MAX_OPEN_CONNS", d.SetMaxOpenConns},
		{"HUB_DB_MAX_IDLE_CONNS", d.SetMaxIdleConns},
	} {
		if v := c.getenv(n.name); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < 1 || i > 10000 {
				return fmt.Errorf("%s must be an integer from 1 to 10000, got %q", n.name, v)
			}
			n.set(i)
		}
	}
	for _, n := range []struct {
		name string
		set  func(time.Duration)
	}{
		{"HUB_DB_CONN_MAX_LIFETIME", d.SetConnMaxLifetime},
		{"HUB_DB_CONN_MAX_IDLE_TIME", d.SetConnMaxIdleTime},
	} {
		if v := c.getenv(n.name); v != "" {
			dur, err := time.ParseDuration(v)
			if err != nil || dur < time.Second {
				return fmt.Errorf("%s must be a duration of at least 1s (e.g. 30m), got %q", n.name, v)
			}
			n.set(dur)
		}
	}
	return nil
}

// eventsConfig reads the event dispatcher's and the webhooks' settings
// (docs/events.md, docs/webhooks.md): HUB_EVENTS_POLL (default 200ms),
// HUB_EVENTS_BACKOFF_BASE (first retry delay, default 5s; tests shorten
// it), HUB_EVENTS_LEASE (a claimed delivery's reservation, default 2m),
// HUB_EVENTS_RETENTION (how long dispatched events are kept, default 720h), HUB_WEBHOOK_TIMEOUT (default 10s), HUB_WEBHOOK_DISABLE_AFTER
// (failed attempts in a row, default 20), HUB_WEBHOOK_SECRET_OVERLAP
// (default 24h) and HUB_WEBHOOK_ALLOW_PRIVATE (true lets webhooks reach
// loopback and private addresses: local tests only).
func (c *cli) eventsConfig() (events.Options, webhooks.Options, error) {
	var e events.Options
	var w webhooks.Options
	durs := []struct {
		name string
		min  time.Duration
		dst  *time.Duration
	}{
		{"HUB_EVENTS_POLL", time.Millisecond, &e.Poll},
		{"HUB_EVENTS_BACKOFF_BASE", time.Millisecond, &e.BackoffBase},
		{"HUB_EVENTS_LEASE", time.Second, &e.Lease},
		{"HUB_EVENTS_RETENTION", time.Hour, &e.Retention},
		{"HUB_WEBHOOK_TIMEOUT", 100 * time.Millisecond, &w.Timeout},
		{"HUB_WEBHOOK_SECRET_OVERLAP", time.Second, &w.SecretOverlap},
		{"HUB_WEBHOOK_BREAKER_OPEN", time.Millisecond, &w.BreakerOpen},
	}
	for _, d := range durs {
		v := c.getenv(d.name)
		if v == "" {
			continue
		}
		x, err := time.ParseDuration(v)
		if err != nil || x < d.min {
			return e, w, fmt.Errorf("%s must be a duration of at least %s, got %q", d.name, d.min, v)
		}
		*d.dst = x
	}
	if v := c.getenv("HUB_WEBHOOK_DISABLE_AFTER"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return e, w, fmt.Errorf("HUB_WEBHOOK_DISABLE_AFTER must be a positive integer, got %q", v)
		}
		w.DisableAfter = n
	}
	switch v := c.getenv("HUB_WEBHOOK_ALLOW_PRIVATE"); v {
	case "", "false", "0":
	case "true", "1":
		w.AllowPrivate = true
	default:
		return e, w, fmt.Errorf("HUB_WEBHOOK_ALLOW_PRIVATE must be true or false, got %q", v)
	}
	// A delivery attempt must end within its lease.
	timeout := w.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if e.Lease == 0 {
		e.Lease = max(2*time.Minute, 2*timeout)
	}
	if e.Lease <= timeout {
		return e, w, fmt.Errorf("HUB_EVENTS_LEASE (%s) must exceed HUB_WEBHOOK_TIMEOUT (%s)", e.Lease, timeout)
	}
	return e, w, nil
}
