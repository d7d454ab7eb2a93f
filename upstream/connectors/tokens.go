package connectors

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/events"
)

// ConnectorError is the event emitted when a connector stops working
// until someone acts (a refresh token the vendor refuses): scoped to the
// connector's owner (docs/events.md).
const ConnectorError = events.ConnectorError

// refreshSkew refreshes a token this long before it expires.
const refreshSkew = 2 * time.Minute

// tokenLease bounds one refresh across instances: a holder that died
// frees the lease after it.
const tokenLease = 30 * time.Second

// leasePoll is how often a caller waiting for another's refresh looks.
const leasePoll = 20 * time.Millisecond

// ErrReconnect is a refresh the vendor refused: the connector is marked
// error and someone must connect it again.
var ErrReconnect = errors.New("the vendor refused the refresh token: connect the integration again")

// tokenLocks serialises refreshes within a process (the lease does it
// across processes).
type tokenLocks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

func (l *tokenLocks) get(id string) *sync.Mutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*sync.Mutex{}
	}
	m, ok := l.m[id]
	if !ok {
		m = &sync.Mutex{}
		l.m[id] = m
	}
	return m
}

// accessToken returns a usable access token of OAuth2 connector id: the
// stored one while it is valid for refreshSkew more and is not stale (the
// token a call just saw refused with 401), else a refreshed one. One
// refresh runs at a time per connector across instances (a lease on the
// row); the others wait and use its result. A refresh the vendor refuses
// marks the connector error, emits connector.error and returns a
// PermanentError wrapping ErrReconnect.
func (s *Service) accessToken(ctx context.Context, id string, stale string) (string, error) {
	mu := s.tokLocks.get(id)
	mu.Lock()
	defer mu.Unlock()
	for {
		r, cfg, err := s.load(ctx, id)
		if err != nil {
			return "", err
		}
		if tok, ok := usable(cfg, stale, s.opt.Now()); ok {
			return tok, nil
		}
		now := s.opt.Now()
		res, err := s.db.Exec(ctx, `UPDATE connectors SET token_lease_until = ? WHERE id = ? AND token_lease_until < ?`,
			db.Micros(now.Add(tokenLease)), id, db.Micros(now))
		if err != nil {
			return "", err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// Another instance is refreshing: wait for its result.
			t := time.NewTimer(leasePoll)
			select {
			case <-ctx.Done():
				t.Stop()
				return "", ctx.Err()
			case <-t.C:
			}
			continue
		}
		// The lease is ours; the token may have been refreshed between
		// our read and the claim.
		r, cfg, err = s.load(ctx, id)
		if err == nil {
			if tok, ok := usable(cfg, stale, s.opt.Now()); ok {
				s.releaseLease(id)
				return tok, nil
			}
			return s.refresh(ctx, r, cfg)
		}
		s.releaseLease(id)
		return "", err
	}
}

func (s *Service) releaseLease(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = s.db.Exec(ctx, `UPDATE connectors SET token_lease_until = 0 WHERE id = ?`, id)
}

func (s *Service) load(ctx context.Context, id string) (record, map[string]any, error) {
	r, err := s.get(ctx, id)
	if err != nil {
		return r, nil, err
	}
	cfg, err := s.config(r)
	return r, cfg, err
}

// usable returns the stored access token unless it expires within
// refreshSkew or equals stale.
func usable(cfg map[string]any, stale string, now time.Time) (string, bool) {
	tok := String(cfg, FieldAccessToken)
	if tok == "" || tok == stale {
		return tok, false
	}
	if exp := String(cfg, FieldTokenExpiry); exp != "" {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil || !t.After(now.Add(refreshSkew)) {
			return tok, false
		}
	}
	return tok, true
}

// refresh runs under the lease: it exchanges the refresh token and
// stores the new tokens (releasing the lease in the same write).
func (s *Service) refresh(ctx context.Context, r record, cfg map[string]any) (string, error) {
	conf, _, _, err := s.oauthConfig(r.Type)
	if err != nil {
		s.releaseLease(r.ID)
		return "", Permanent("%s", err.Error())
	}
	rt := String(cfg, FieldRefreshToken)
	if rt == "" {
		s.releaseLease(r.ID)
		return "", s.refreshFailed(ctx, r, "no refresh token is stored")
	}
	hctx := context.WithValue(ctx, oauth2.HTTPClient, s.opt.HTTP)
	tok, err := conf.TokenSource(hctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		s.releaseLease(r.ID)
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 && re.Response.StatusCode != http.StatusTooManyRequests {
			return "", s.refreshFailed(ctx, r, "token refresh refused: "+tokenErrorCode(err))
		}
		if re != nil && re.Response != nil && re.Response.StatusCode == http.StatusTooManyRequests {
			return "", &RetryAfterError{After: ParseRetryAfter(re.Response.Header.Get("Retry-After"), s.opt.Now(), 5*time.Second, 10*time.Minute),
				Msg: "token refresh throttled"}
		}
		// The token endpoint is down or unreachable: retried later.
		return "", errors.New("token refresh failed: " + tokenErrorCode(err))
	}
	setTokens(cfg, tok)
	enc, err := s.seal(r.ID, cfg)
	if err != nil {
		s.releaseLease(r.ID)
		return "", err
	}
	// The version moves so that an admin PATCH that read the old tokens
	// cannot write them back.
	if _, err := s.db.Exec(ctx, `UPDATE connectors SET config_enc = ?, token_lease_until = 0, updated_at = ?, version = version + 1 WHERE id = ?`,
		enc, db.Micros(s.opt.Now()), r.ID); err != nil {
		s.releaseLease(r.ID)
		return "", err
	}
	s.opt.Logger.Info("connector token refreshed", "connector", r.ID)
	return tok.AccessToken, nil
}

// refreshFailed marks the connector error and emits connector.error in
// one transaction; msg never holds a token.
func (s *Service) refreshFailed(ctx context.Context, r record, msg string) error {
	now := s.opt.Now()
	err := s.markError(ctx, r, msg, now)
	if err != nil {
		s.opt.Logger.Error("connector error not recorded", "connector", r.ID, "error", err.Error())
	}
	s.opt.Logger.Warn("connector needs reconnecting", "connector", r.ID, "reason", msg)
	return &PermanentError{Msg: ErrReconnect.Error() + " (" + msg + ")"}
}

func (s *Service) markError(ctx context.Context, r record, msg string, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE connectors SET sync_status = 'error', error_message = ? WHERE id = ? AND sync_status <> 'error'`), msg, r.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		ev := events.New(ConnectorError, now, events.System, events.Resource{Type: "connectors", ID: r.ID},
			map[string]any{"id": r.ID, "type": r.Type, "name": r.Name, "error": msg, "reconnect_url": integrationsPrefix + r.Type + "/connect?connector=" + r.ID}).ForOwner(r.OwnerID)
		if err := events.Append(ctx, s.db, tx, ev); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// revoke revokes the connector's access token at the vendor, when the
// vendor supports it (disconnect). Best effort: the error is returned for
// the log; the connector is deleted anyway.
func (s *Service) revoke(ctx context.Context, r record) error {
	t, ok := s.reg.Get(r.Type)
	if !ok || t.OAuth == nil || t.OAuth.Revoke == nil {
		return nil
	}
	cfg, err := s.config(r)
	if err != nil {
		return err
	}
	tok := String(cfg, FieldAccessToken)
	if tok == "" {
		return nil
	}
	if _, ok := usable(cfg, "", s.opt.Now()); !ok && String(cfg, FieldRefreshToken) != "" {
		// An expired access token cannot revoke: refresh it first.
		if fresh, err := s.accessToken(ctx, r.ID, ""); err == nil {
			tok = fresh
		}
	}
	return t.OAuth.Revoke(ctx, s.opt.HTTP, String(cfg, "api_url"), tok)
}
