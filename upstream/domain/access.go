package domain

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"

	"github.com/hubchantier/hubgate/upstream/authz"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// This file is the domain's side of the permission matrix (upstream/authz):
// every route is bound to a resource and an action, checked once in
// guarded before the handler runs; the reach of the permission (own rows,
// rows of assigned chantiers, all) then filters lists and gates each row a
// handler reads or writes.

type accessKey struct{}

// access is the caller's authorization for the current request.
type access struct {
	authz.Decision
	resource string
	act      authz.Action
}

// accessOf returns the decision guarded stored; requests that did not go
// through guarded (none in Register) are refused everything.
func accessOf(r *http.Request) access {
	a, _ := r.Context().Value(accessKey{}).(access)
	return a
}

// guarded binds h to res and refuses, before h runs, callers whose current
// role or credential scopes do not allow act on resource (authz.Check:
// 401 anonymous, 403 permission-denied).
func (s *Service) guarded(res *resource, resource string, act authz.Action, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := authz.Require(w, r, httpx.Identity(r), resource, act)
		if !ok {
			return
		}
		a := access{Decision: d, resource: resource, act: act}
		h(w, r.WithContext(context.WithValue(r.Context(), accessKey{}, a)), res)
	})
}

// writeCheck vets one write: cur is the stored row (nil on create), id its
// id, next the values to write (nil on delete).
type writeCheck func(ctx context.Context, cur *record, id int64, next values) error

// errForbidden is a row-level refusal (403): the caller may see the row
// but not do this to it.
type errForbidden struct {
	resource string
	act      authz.Action
	why      string
}

func (e *errForbidden) Error() string { return "forbidden: " + e.why }

// ownerColumn is the column naming the user a row belongs to ("id" for
// users themselves), or "" when res has none.
func ownerColumn(res *resource) string {
	switch {
	case res == users:
		return "id"
	case res.fieldByName("user_id") != nil:
		return "user_id"
	}
	return ""
}

// chantierColumn is the column naming the chantier a row belongs to ("id"
// for chantiers themselves), or "" when res has none.
func chantierColumn(res *resource) string {
	switch {
	case res == chantiers:
		return "id"
	case res.fieldByName("chantier_id") != nil:
		return "chantier_id"
	}
	return ""
}

// assignedSQL selects the chantiers user ? is assigned to (any
// affectation, past, present or future).
const assignedSQL = `SELECT chantier_id FROM affectations WHERE user_id = ?`

// listFilter returns the WHERE terms that restrict a list of res to the
// rows within reach (columns qualified with prefix). A reach the resource
// cannot express (no owner or chantier column) matches nothing.
func listFilter(a access, res *resource, prefix string) ([]string, []any) {
	switch a.Reach {
	case authz.All:
		return nil, nil
	case authz.Own:
		if col := ownerColumn(res); col != "" {
			return []string{prefix + col + " = ?"}, []any{a.UserID}
		}
	case authz.Assigned:
		if col := chantierColumn(res); col != "" {
			return []string{prefix + col + " IN (" + assignedSQL + ")"}, []any{a.UserID}
		}
	}
	return []string{"1 = 0"}, nil
}

// within reports whether the row values v (of a row id) are within reach.
func (s *Service) within(ctx context.Context, reach authz.Reach, uid int64, res *resource, id int64, v values) (bool, error) {
	switch reach {
	case authz.All:
		return true, nil
	case authz.Own:
		switch col := ownerColumn(res); col {
		case "id":
			return id == uid, nil
		case "":
			return false, nil
		default:
			owner, _ := v[col].(int64)
			return owner == uid, nil
		}
	case authz.Assigned:
		var chantier int64
		switch col := chantierColumn(res); col {
		case "id":
			chantier = id
		case "":
			return false, nil
		default:
			chantier, _ = v[col].(int64)
		}
		var one int
		err := s.db.QueryRow(ctx, `SELECT 1 FROM affectations WHERE user_id = ? AND chantier_id = ? LIMIT 1`, uid, chantier).Scan(&one)
		if err == nil {
			return true, nil
		}
		if isNoRows(err) {
			return false, nil
		}
		return false, fmt.Errorf("check affectation of user %d to chantier %d: %w", uid, chantier, err)
	}
	return false, nil
}

// readable reports whether the caller may read rec; rows that are not are
// answered 404, as if they did not exist (their existence is not leaked).
func (s *Service) readable(ctx context.Context, r *http.Request, rec *record) (bool, error) {
	a := accessOf(r)
	if a.act == authz.Read {
		return s.within(ctx, a.Reach, a.UserID, rec.res, rec.id, rec.vals)
	}
	reach := authz.Allowed(a.Role, a.resource, authz.Read)
	return s.within(ctx, reach, a.UserID, rec.res, rec.id, rec.vals)
}

// writeGuard returns the check run on each write of the request: cur is
// the row as stored (nil on create), next the values about to be written
// (nil on delete). The row must be within the action's reach before and
// after the write (an ouvrier cannot hand their pointage to someone else);
// a row the caller cannot even read is 404. Pointages also need the
// validate permission to set or change valide, or to touch a validated
// pointage.
func (s *Service) writeGuard(r *http.Request, res *resource) writeCheck {
	a := accessOf(r)
	return func(ctx context.Context, cur *record, id int64, next values) error {
		if cur != nil {
			ok, err := s.within(ctx, a.Reach, a.UserID, res, cur.id, cur.vals)
			if err != nil {
				return err
			}
			if !ok {
				seen, err := s.readable(ctx, r, cur)
				if err != nil {
					return err
				}
				if !seen {
					return errNotFound
				}
				return &errForbidden{a.resource, a.act, "the row is beyond the " + a.Role + " role's " + a.Reach.String() + " reach"}
			}
		}
		if next != nil {
			ok, err := s.within(ctx, a.Reach, a.UserID, res, id, next)
			if err != nil {
				return err
			}
			if !ok {
				return &errForbidden{a.resource, a.act, "the " + a.Role + " role may only write rows within its " + a.Reach.String() + " reach (" + reachHint(a.Reach) + ")"}
			}
		}
		if res == pointages && touchesValidation(cur, next) {
			if _, p := authz.Check(httpx.Identity(r), authz.Pointages, authz.Validate); p != nil {
				return &errForbidden{authz.Pointages, authz.Validate, "setting valide, or changing a validated pointage, needs the validate permission (conducteur or admin)"}
			}
		}
		return nil
	}
}

func reachHint(r authz.Reach) string {
	if r == authz.Own {
		return "user_id must be the caller"
	}
	return "chantier_id must be a chantier the caller is assigned to"
}

// touchesValidation reports whether a pointage write sets or changes
// valide, or modifies a validated pointage.
func touchesValidation(cur *record, next values) bool {
	was := cur != nil && cur.vals["valide"] == true
	switch {
	case next == nil:
		return was
	case cur == nil:
		return next["valide"] == true
	default:
		return was || next["valide"] != cur.vals["valide"]
	}
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
