package domain

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/authz"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// maxPatchAttempts bounds the read-merge-write retries of a PATCH without
// If-Match that keeps losing races against other writers.
const maxPatchAttempts = 5

// handleGet serves GET /api/v1/<resource>/{id}.
func (s *Service) handleGet(w http.ResponseWriter, r *http.Request, res *resource) {
	id, ok := pathID(w, r, res)
	if !ok {
		return
	}
	rec, err := s.get(r.Context(), res, id)
	if err == nil {
		// A row beyond the caller's reach is answered as missing.
		if ok, verr := s.readable(r.Context(), r, rec); verr != nil {
			err = verr
		} else if !ok {
			err = errNotFound
		}
	}
	if err != nil {
		s.writeError(w, r, res, err)
		return
	}
	writeRecord(w, http.StatusOK, rec)
}

// handleCreate serves POST /api/v1/<resource>: 201 with Location and ETag.
func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request, res *resource) {
	in, ok := readBody(w, r, res)
	if !ok {
		return
	}
	v, errs := res.merge(modeCreate, in, nil)
	if len(errs) > 0 {
		writeValidation(w, r, errs)
		return
	}
	if err := s.writeGuard(r, res)(r.Context(), nil, 0, v); err != nil {
		s.writeError(w, r, res, err)
		return
	}
	rec, err := s.insert(r.Context(), res, v)
	if err != nil {
		s.writeError(w, r, res, err)
		return
	}
	w.Header().Set("Location", "/api/v1/"+res.name+"/"+strconv.FormatInt(rec.id, 10))
	writeRecord(w, http.StatusCreated, rec)
}

// handleReplace serves PUT /api/v1/<resource>/{id}: a full replacement,
// atomic with the If-Match and If-None-Match checks (see replace).
func (s *Service) handleReplace(w http.ResponseWriter, r *http.Request, res *resource) {
	id, ok := pathID(w, r, res)
	if !ok {
		return
	}
	in, ok := readBody(w, r, res)
	if !ok {
		return
	}
	v, errs := res.merge(modeReplace, in, nil)
	if len(errs) > 0 {
		writeValidation(w, r, errs)
		return
	}
	before, rec, err := s.replace(r.Context(), res, id, v, parseConditions(r.Header), s.writeGuard(r, res))
	if err != nil {
		s.writeError(w, r, res, err)
		return
	}
	auditChanges(w, before, rec)
	writeRecord(w, http.StatusOK, rec)
}

// replace writes v over row id and returns the row as it was (for the audit
// trail) and as written. The row is read, the preconditions evaluated on
// it, and the write made conditional on the version read, so "before" is
// exactly the state overwritten: a write that raced in between makes this
// one a 412 when the client sent a precondition (a state nobody evaluated
// is never overwritten), and is retried otherwise (like a PATCH without If-Match; the last attempt
// writes unconditionally, as PUT without preconditions always did).
func (s *Service) replace(ctx context.Context, res *resource, id int64, v values, cond conditions, guard writeCheck) (*record, *record, error) {
	for attempt := 0; ; attempt++ {
		cur, err := s.get(ctx, res, id)
		if err != nil {
			return nil, nil, err
		}
		if err := guard(ctx, cur, id, v); err != nil {
			return nil, nil, err
		}
		if !cond.allows(cur.version) {
			return nil, nil, errPrecondition
		}
		conditional := cond.match != nil || cond.hasNone()
		match := []int64{cur.version}
		if !conditional && attempt+1 >= maxPatchAttempts {
			match = nil
		}
		rec, err := s.update(ctx, res, id, v, match, cur)
		if !errors.Is(err, errPrecondition) || conditional || match == nil {
			return cur, rec, err
		}
	}
}

// handlePatch serves PATCH /api/v1/<resource>/{id}: a JSON merge patch
// (RFC 7396). The row is read, patched and written back only if its version
// is still the one read, so a concurrent write is never lost: with If-Match
// the loser gets 412, without it the patch is retried on the new row.
func (s *Service) handlePatch(w http.ResponseWriter, r *http.Request, res *resource) {
	id, ok := pathID(w, r, res)
	if !ok {
		return
	}
	in, ok := readBody(w, r, res)
	if !ok {
		return
	}
	before, rec, errs, err := s.patch(r.Context(), res, id, in, parseConditions(r.Header), s.writeGuard(r, res))
	switch {
	case len(errs) > 0:
		writeValidation(w, r, errs)
	case err != nil:
		s.writeError(w, r, res, err)
	default:
		auditChanges(w, before, rec)
		writeRecord(w, http.StatusOK, rec)
	}
}

// patch applies the merge patch in to row id (see handlePatch) and
// returns the row before (for the audit trail) and after.
// The conditions are evaluated on each row read; only If-Match stops the
// retries, since its versions cannot come back once the row moved on.
func (s *Service) patch(ctx context.Context, res *resource, id int64, in values, cond conditions, guard writeCheck) (*record, *record, []fieldError, error) {
	for attempt := 0; ; attempt++ {
		cur, err := s.get(ctx, res, id)
		if err != nil {
			return nil, nil, nil, err
		}
		if !cond.allows(cur.version) {
			return nil, nil, nil, errPrecondition
		}
		v, errs := res.merge(modePatch, in, cur.vals)
		if len(errs) > 0 {
			return nil, nil, errs, nil
		}
		if err := guard(ctx, cur, id, v); err != nil {
			return nil, nil, nil, err
		}
		rec, err := s.update(ctx, res, id, v, []int64{cur.version}, cur)
		if !errors.Is(err, errPrecondition) || cond.match != nil || attempt+1 >= maxPatchAttempts {
			return cur, rec, nil, err
		}
	}
}

// handleDelete serves DELETE /api/v1/<resource>/{id}: 204, atomic with the
// If-Match and If-None-Match checks (see removeCurrent).
func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request, res *resource) {
	id, ok := pathID(w, r, res)
	if !ok {
		return
	}
	before, err := s.removeCurrent(r.Context(), res, id, parseConditions(r.Header), s.writeGuard(r, res))
	if err != nil {
		s.writeError(w, r, res, err)
		return
	}
	auditChanges(w, before, nil)
	w.WriteHeader(http.StatusNoContent)
}

// removeCurrent deletes row id and returns it as it was, read first and
// deleted only at the version read (see replace for the race handling).
func (s *Service) removeCurrent(ctx context.Context, res *resource, id int64, cond conditions, guard writeCheck) (*record, error) {
	for attempt := 0; ; attempt++ {
		cur, err := s.get(ctx, res, id)
		if err != nil {
			return nil, err
		}
		if err := guard(ctx, cur, id, nil); err != nil {
			return nil, err
		}
		if !cond.allows(cur.version) {
			return nil, errPrecondition
		}
		conditional := cond.match != nil || cond.hasNone()
		match := []int64{cur.version}
		if !conditional && attempt+1 >= maxPatchAttempts {
			match = nil
		}
		err = s.remove(ctx, res, id, match, cur)
		if !errors.Is(err, errPrecondition) || conditional || match == nil {
			return cur, err
		}
	}
}

// auditChanges reports a write's before and after states in the
// X-Hub-Changes header (base64url JSON, changed members only, sensitive
// members redacted, bounded): the gateway's hub_audit records it in the
// audit trail and removes it from the response.
func auditChanges(w http.ResponseWriter, before, after *record) {
	w.Header().Set(auditchain.ChangesHeader, auditchain.EncodeChanges(recordMap(before), recordMap(after)))
}

// recordMap is a row's members for a changes report; nil for no row.
func recordMap(rec *record) map[string]any {
	if rec == nil {
		return nil
	}
	m := make(map[string]any, len(rec.vals)+2)
	for k, v := range rec.vals {
		m[k] = v
	}
	m["id"], m["version"] = rec.id, rec.version
	return m
}

// pathID reads {id}; anything but a positive integer in canonical form
// names no row (404, see httpx.ParseID).
func pathID(w http.ResponseWriter, r *http.Request, res *resource) (int64, bool) {
	id, ok := httpx.ParseID(r.PathValue("id"))
	if !ok {
		httpx.NotFound(w, r, res.singular+" "+strconv.Quote(r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// readBody decodes a JSON object body into typed values, or writes a 400.
func readBody(w http.ResponseWriter, r *http.Request, res *resource) (values, bool) {
	var body map[string]json.RawMessage
	if !httpx.DecodeJSON(w, r, &body) {
		return nil, false
	}
	in, errs := res.parseBody(body)
	if len(errs) > 0 {
		writeValidation(w, r, errs)
		return nil, false
	}
	return in, true
}

// writeValidation sends a 400 validation problem listing every field error.
func writeValidation(w http.ResponseWriter, r *http.Request, errs []fieldError) {
	detail := errs[0].Message
	if len(errs) > 1 {
		detail = strconv.Itoa(len(errs)) + " fields are invalid"
	}
	httpx.Problem(w, r, problem.New(http.StatusBadRequest, "validation", "Invalid request", detail).With("errors", errs))
}

// writeError maps repository errors to problems.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, res *resource, err error) {
	var refs refErrors
	var denied *errForbidden
	switch {
	case errors.As(err, &denied):
		httpx.Problem(w, r, authz.Forbidden(denied.resource, denied.act, denied.why))
	case errors.As(err, &refs):
		writeValidation(w, r, refs)
	case errors.Is(err, errNotFound):
		httpx.NotFound(w, r, res.singular+" "+r.PathValue("id"))
	case errors.Is(err, errPrecondition):
		httpx.Problem(w, r, problem.New(http.StatusPreconditionFailed, "precondition-failed", "Precondition Failed",
			"the current "+res.singular+" does not satisfy the If-Match or If-None-Match precondition; fetch it again"))
	case errors.Is(err, errConflict):
		httpx.Problem(w, r, problem.New(http.StatusConflict, "conflict", "Conflict", res.deleteConflictDetail()))
	default:
		slog.ErrorContext(r.Context(), "domain request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		httpx.Internal(w, r, err)
	}
}

// deleteConflictDetail explains a 409 on DELETE.
func (r *resource) deleteConflictDetail() string {
	if r.deleteConflict != "" {
		return r.deleteConflict
	}
	return "other records still refer to this " + r.singular
}
