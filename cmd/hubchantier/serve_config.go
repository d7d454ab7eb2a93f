package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
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
