package hubanomaly

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

// storeTimeout bounds one store call; past it the request goes on unblocked.
const storeTimeout = time.Second

// blockRecord is the value stored under blockKey: every instance sharing
// the store refuses the principal until Until (Unix milliseconds). The
// store's TTL removes it afterwards; Until, not the TTL, decides, so
// instances agree even when the TTL lags.
type blockRecord struct {
	Rule   string `json:"rule"`
	Until  int64  `json:"until"`
	Status int    `json:"status"`
}

func blockKey(p hub.Principal) string { return "anomaly:block:" + p.Key }

// blocked reports whether p is blocked. Warm path: the principal's state
// says "blocked until T" (known locally) or "not blocked, checked less than
// block_cache ago", without touching the store. Otherwise one GET.
func (h *Handler) blocked(ctx context.Context, table *principals, p hub.Principal) (blockRecord, bool) {
	now := h.now()
	ns := now.UnixNano()
	var (
		b            blockRecord
		isBlocked    bool
		fresh        bool
		cacheForNano = int64(time.Duration(h.BlockCache))
	)
	table.with(p.Key, func(st *state) {
		switch {
		case st.blockUntil > ns:
			b, isBlocked = blockRecord{Rule: st.blockRule, Until: st.blockUntil / int64(time.Millisecond), Status: st.blockStatus}, true
		case st.checkedAt != 0 && ns-st.checkedAt < cacheForNano:
			fresh = true
		}
	})
	if isBlocked || fresh {
		return b, isBlocked
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	raw, err := h.store.Get(ctx, blockKey(p))
	switch {
	case errors.Is(err, hub.ErrNotFound):
	case err != nil:
		// Fail open: a detection aid must not take the API down with the
		// store. Blocks this instance decided itself still hold.
		h.warnStore(err)
	default:
		if jerr := json.Unmarshal(raw, &b); jerr == nil && b.Until > now.UnixMilli() {
			isBlocked = true
		}
	}
	table.with(p.Key, func(st *state) {
		st.checkedAt = ns
		if isBlocked {
			st.blockUntil, st.blockRule, st.blockStatus = b.Until*int64(time.Millisecond), b.Rule, b.Status
		}
	})
	return b, isBlocked
}

// block records a block of p for rule, locally at once and in the shared
// store for the other instances.
func (h *Handler) block(ctx context.Context, table *principals, p hub.Principal, rule string, a *Action, at time.Time) time.Time {
	until := at.Add(time.Duration(a.Block))
	b := blockRecord{Rule: rule, Until: until.UnixMilli(), Status: a.BlockStatus}
	table.with(p.Key, func(st *state) {
		if ns := until.UnixNano(); ns > st.blockUntil {
			st.blockUntil, st.blockRule, st.blockStatus = ns, rule, a.BlockStatus
		}
	})
	raw, _ := json.Marshal(b)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := h.store.Set(ctx, blockKey(p), raw, time.Duration(a.Block)); err != nil {
		h.warnStore(err)
	}
	return until
}

var lastStoreWarn atomic.Int64

// warnStore logs store failures at most once a minute per process.
func (h *Handler) warnStore(err error) {
	now := time.Now().UnixNano()
	last := lastStoreWarn.Load()
	if now-last < int64(time.Minute) || !lastStoreWarn.CompareAndSwap(last, now) {
		return
	}
	h.log.Warn("anomaly blocks: store unreachable; blocks decided by other instances are not seen meanwhile",
		zap.String("store", h.store.Kind()), zap.Error(err))
}

// refuse answers a blocked principal: 429 (RFC 6585 §4) or 403 with
// Retry-After (RFC 9110 §10.2.3) and the anomaly-blocked problem type.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, p hub.Principal, b blockRecord) error {
	retry := max((b.Until-h.now().UnixMilli()+999)/1000, 1)
	status := b.Status
	if status != http.StatusForbidden {
		status = http.StatusTooManyRequests
	}
	h.metrics.blocked.WithLabelValues(ruleLabel(b.Rule)).Inc()
	h.log.Debug("anomaly block", zap.String("rule", b.Rule), zap.String("principal_kind", string(p.Kind)),
		zap.Int64("retry_after", retry), zap.String("request_id", r.Header.Get(hub.RequestIDHeader)))
	w.Header().Set("Retry-After", strconv.FormatInt(retry, 10))
	title := "Too Many Requests"
	if status == http.StatusForbidden {
		title = "Forbidden"
	}
	hub.WriteProblem(w, r, problem.New(status, "anomaly-blocked", title,
		fmt.Sprintf("requests from this client are suspended for %d s after an anomaly (%s) was detected", retry, b.Rule)).
		With("rule", b.Rule).
		With("retry_after", retry))
	return nil
}

// ruleLabel bounds a rule name read from the store to the known set.
func ruleLabel(r string) string {
	for _, n := range ruleNames {
		if r == n {
			return r
		}
	}
	return "other"
}

// detected reports one detection: metric, warning, events, and the rule's
// block action.
func (h *Handler) detected(r *http.Request, table *principals, p hub.Principal, d detection, at time.Time) {
	h.metrics.anomalies.WithLabelValues(d.rule).Inc()
	d.details["endpoint"] = h.routes.Of(r)
	if a := h.actionOf(d.rule); a != nil && a.Block > 0 {
		until := h.block(r.Context(), table, p, d.rule, a, at)
		d.details["action"] = "block"
		d.details["blocked_until"] = until.UTC().Format(time.RFC3339)
		d.details["block_status"] = a.BlockStatus
	}
	ev := &Event{EventID: newEventID(), DetectedAt: at.UTC(), Rule: d.rule, PrincipalKind: string(p.Kind),
		PrincipalID: p.ID, Details: d.details, GatewayID: h.GatewayID}
	h.log.Warn("anomaly detected", zap.String("rule", d.rule), zap.String("principal_kind", string(p.Kind)),
		zap.String("principal_id", p.ID), zap.Any("details", d.details), zap.String("event_id", ev.EventID),
		zap.String("request_id", r.Header.Get(hub.RequestIDHeader)))
	for _, s := range h.sinks {
		s.enqueue(ev)
	}
}

func (h *Handler) actionOf(rule string) *Action {
	acts := h.actions()
	for i, n := range ruleNames {
		if n == rule {
			return acts[i]
		}
	}
	return nil
}

// newEventID returns a random UUID (RFC 9562 version 4).
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
