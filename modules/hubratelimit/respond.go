package hubratelimit

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

// Field names. RateLimit-Policy and RateLimit are draft-ietf-httpapi-
// ratelimit-headers (-08 and later): Structured Field Lists of quoted policy
// names with parameters. The X-RateLimit-* trio is the de facto convention
// many clients still read.
const (
	fieldPolicy    = "RateLimit-Policy"
	fieldRateLimit = "RateLimit"
	fieldLimit     = "X-RateLimit-Limit"
	fieldRemaining = "X-RateLimit-Remaining"
	fieldReset     = "X-RateLimit-Reset"
)

// ceilSeconds rounds d up to whole seconds: a client told to wait must
// never come back before the quota has.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// setFields writes the rate limit fields of every applied window.
//
//	RateLimit-Policy: "per-key";q=1000;w=3600, "login";q=5;w=60
//	RateLimit: "per-key";r=947;t=191, "login";r=4;t=12
//
// q is the quota and w the window in seconds (draft §4.1); r the units left
// and t the seconds until the quota is whole again (draft §3.1): with GCRA
// units come back one every w/q seconds, so t is when r is back to q. The
// X-RateLimit-* fields describe the strictest window: on a refusal the one
// that makes the client wait longest, otherwise the one with the fewest
// units left; X-RateLimit-Reset is a Unix time.
func setFields(hdr http.Header, ws []applied, d hub.Decision, now time.Time) {
	var pol, cur strings.Builder
	strictest := 0
	for i, w := range ws {
		st := d.Windows[i]
		if i > 0 {
			pol.WriteString(", ")
			cur.WriteString(", ")
		}
		fmt.Fprintf(&pol, "%q;q=%d;w=%d", w.name, w.rate.Limit, int64(w.rate.Period/time.Second))
		fmt.Fprintf(&cur, "%q;r=%d;t=%d", w.name, st.Remaining, ceilSeconds(st.Reset))
		if stricter(st, d.Windows[strictest], d.Allowed) {
			strictest = i
		}
	}
	hdr.Set(fieldPolicy, pol.String())
	hdr.Set(fieldRateLimit, cur.String())
	st := d.Windows[strictest]
	hdr.Set(fieldLimit, strconv.FormatInt(ws[strictest].rate.Limit, 10))
	hdr.Set(fieldRemaining, strconv.FormatInt(st.Remaining, 10))
	hdr.Set(fieldReset, strconv.FormatInt(now.Unix()+ceilSeconds(st.Reset+time.Duration(now.Nanosecond())), 10))
}

// stricter reports whether a binds the client more than b.
func stricter(a, b hub.WindowState, allowed bool) bool {
	if !allowed && a.RetryAfter != b.RetryAfter {
		return a.RetryAfter > b.RetryAfter
	}
	if a.Remaining != b.Remaining {
		return a.Remaining < b.Remaining
	}
	return a.Reset > b.Reset
}

// reject answers 429 with Retry-After and a problem document naming the
// policy that refused (RFC 6585 §4).
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, ws []applied, d hub.Decision) error {
	worst := 0
	for i, st := range d.Windows {
		if st.RetryAfter > d.Windows[worst].RetryAfter {
			worst = i
		}
	}
	win := ws[worst]
	retry := max(ceilSeconds(d.RetryAfter()), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(retry, 10))
	h.metrics.RateLimitExceeded.WithLabelValues(win.rule).Inc()
	h.log.Debug("rate limited",
		zap.String("policy", win.name),
		zap.String("method", r.Method),
		zap.String("endpoint", h.routes.Of(r)),
		zap.Int64("retry_after", retry),
		zap.String("request_id", r.Header.Get(hub.RequestIDHeader)))
	p := problem.New(http.StatusTooManyRequests, "rate-limited", "Too Many Requests",
		fmt.Sprintf("rate limit %q (%s) exceeded; retry in %d s", win.name, win.rate, retry)).
		With("policy", win.name).
		With("limit", win.rate.Limit).
		With("window", int64(win.rate.Period/time.Second)).
		With("retry_after", retry)
	hub.WriteProblem(w, r, p)
	return nil
}

// unavailable answers 503 when the store is down and the handler fails
// closed.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request) error {
	retry := max(ceilSeconds(time.Duration(h.RetryInterval)), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(retry, 10))
	hub.WriteProblem(w, r, problem.New(http.StatusServiceUnavailable, "rate-limit-unavailable", "Service Unavailable",
		"rate limits cannot be checked right now; retry later"))
	return nil
}
