package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hubchantier/hubgate/internal/apikey"
	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// MaxWait is the longest long-poll GET /internal/revocations accepts.
const MaxWait = contract.MaxRevocationWait

// internal guards a gateway-only endpoint (httpx.GatewayOnly).
func (s *Service) internal(h http.HandlerFunc) http.Handler {
	return httpx.GatewayOnly([][]byte{s.o.GatewaySecret, s.o.AcceptSecret}, h)
}

func (s *Service) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	var req contract.IntrospectRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if !apikey.ValidID(req.KeyID) {
		httpx.WriteJSON(w, http.StatusNotFound, map[string]bool{"active": false})
		return
	}
	in, err := s.Introspect(r.Context(), req.KeyID)
	if errors.Is(err, ErrNotFound) {
		httpx.WriteJSON(w, http.StatusNotFound, map[string]bool{"active": false})
		return
	}
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, in)
}

// Introspect returns what a gateway needs to verify key id, with the owner's
// current role, or ErrNotFound. The keys of a deactivated owner introspect
// as revoked.
func (s *Service) Introspect(ctx context.Context, id string) (contract.Introspection, error) {
	var role string
	var active bool
	err := s.db.QueryRow(ctx, `SELECT u.role, u.active FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = ?`, id).Scan(&role, &active)
	if errors.Is(err, sql.ErrNoRows) {
		return contract.Introspection{}, ErrNotFound
	}
	if err != nil {
		return contract.Introspection{}, fmt.Errorf("introspect key %s: %w", id, err)
	}
	k, err := s.loadKey(ctx, id)
	if err != nil {
		return contract.Introspection{}, err
	}
	if !active {
		// A deactivated owner's keys are refused like revoked ones (no
		// secrets to match) until the owner is reactivated.
		k.Status = StatusRevoked
	}
	return s.introspection(k, role), nil
}

func (s *Service) introspection(k keyRow, role string) contract.Introspection {
	status := k.Status
	if status == StatusExpiringSoon {
		status = StatusActive
	}
	out := contract.Introspection{
		Active: status == StatusActive, ID: k.ID, UserID: strconv.FormatInt(k.UserID, 10), Role: role,
		Scopes: k.Scopes, Status: status, ExpiresAt: k.ExpiresAt, Secrets: []contract.KeySecret{},
		IPWhitelist: k.IPWhitelist, RateLimit: k.RateLimit,
	}
	if out.Active {
		out.Secrets = append(out.Secrets, contract.KeySecret{Hash: k.secretHash, ExpiresAt: k.ExpiresAt})
		if k.GraceUntil != nil {
			until := *k.GraceUntil
			if until.After(k.ExpiresAt) {
				until = k.ExpiresAt
			}
			out.Secrets = append(out.Secrets, contract.KeySecret{Hash: k.graceHash, ExpiresAt: until})
		}
	}
	return out
}

func (s *Service) handleRevocations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since := int64(-1)
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < -1 {
			httpx.BadRequest(w, r, "since", "since must be an integer ≥ -1 (a last_seq from a previous answer)")
			return
		}
		since = n
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > MaxWait {
			httpx.BadRequest(w, r, "wait", "wait must be a number of seconds from 0 to 30")
			return
		}
		wait = time.Duration(n) * time.Second
	}
	if since < 0 {
		// A gateway starting up (or a resolver new after a reload) knows
		// nothing yet: it gets every event still able to matter, that is
		// younger than any token it could be shown, then follows from
		// there (a longer backlog comes in the next pages, without waiting).
		start, err := s.ReplayStart(r.Context())
		if err != nil {
			httpx.Internal(w, r, err)
			return
		}
		since, wait = start, 0
	}
	events, last, err := s.WaitEvents(r.Context(), since, wait)
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, contract.RevocationPage{Events: events, LastSeq: last})
}

func (s *Service) handleUsage(w http.ResponseWriter, r *http.Request) {
	var req contract.UsageReport
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if len(req.Keys) > contract.MaxUsageKeys {
		httpx.BadRequest(w, r, "keys", "at most 10000 keys per report")
		return
	}
	used := make(map[string]time.Time, len(req.Keys))
	now := s.now()
	for id, v := range req.Keys {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			httpx.BadRequest(w, r, "keys", "keys."+id+" must be an RFC 3339 time")
			return
		}
		if t.After(now) {
			t = now // a gateway clock ahead of ours must not date uses in the future
		}
		if apikey.ValidID(id) {
			used[id] = t
		}
	}
	if err := s.RecordUsage(r.Context(), used); err != nil {
		httpx.Internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RecordUsage raises last_used_at of each key to the reported time (never
// lowers it: reports from several gateways arrive in any order). Unknown
// ids are ignored.
func (s *Service) RecordUsage(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	d := s.db
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record usage: %w", err)
	}
	defer tx.Rollback()
	q := d.Rebind(`UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
	for id, t := range used {
		us := db.Micros(t)
		if _, err := tx.ExecContext(ctx, q, us, id, us); err != nil {
			return fmt.Errorf("record usage of key %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record usage: %w", err)
	}
	return nil
}
