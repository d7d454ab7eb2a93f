package domain

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/hubchantier/hubgate/upstream/db"
)

// Errors of the repository, mapped to HTTP statuses by the handlers.
var (
	errNotFound     = errors.New("not found")           // 404
	errPrecondition = errors.New("precondition failed") // 412: the version did not match
	errConflict     = errors.New("conflict")            // 409: rows still refer to this one
)

// refErrors is a write refused because a foreign key names a missing row.
type refErrors []fieldError

func (e refErrors) Error() string { return fmt.Sprintf("%d missing references", len(e)) }

// get returns the row id of r, or errNotFound.
func (s *Service) get(ctx context.Context, r *resource, id int64) (*record, error) {
	row := s.db.QueryRow(ctx, `SELECT `+r.cols+` FROM `+r.name+` WHERE id = ?`, id)
	rec, err := r.scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %d: %w", r.singular, id, err)
	}
	return rec, nil
}

// exists reports whether table has a row id.
func (s *Service) exists(ctx context.Context, table string, id int64) (bool, error) {
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM `+table+` WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// checkRefs names every foreign key of v that points to no row. The
// database enforces them too; checking first lets the error name the field.
func (s *Service) checkRefs(ctx context.Context, r *resource, v values) error {
	var errs refErrors
	for _, f := range r.fields {
		id, ok := v[f.name].(int64)
		if f.kind != kRef || !ok {
			continue
		}
		found, err := s.exists(ctx, f.ref, id)
		if err != nil {
			return fmt.Errorf("check %s: %w", f.name, err)
		}
		if !found {
			errs = append(errs, fieldError{f.name, fmt.Sprintf("%s %d does not exist", strings.TrimSuffix(f.ref, "s"), id)})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// fkError turns a foreign-key violation that slipped past checkRefs (the
// referenced row was deleted meanwhile) into refErrors. PostgreSQL names
// the constraint (pointages_user_id_fkey); SQLite does not, so then every
// reference of r is named.
func fkError(r *resource, err error) error {
	if !db.IsForeignKeyViolation(err) {
		return err
	}
	var named, all refErrors
	for _, f := range r.fields {
		if f.kind != kRef {
			continue
		}
		fe := fieldError{f.name, f.name + " must refer to an existing " + strings.TrimSuffix(f.ref, "s")}
		all = append(all, fe)
		if strings.Contains(err.Error(), "_"+f.name+"_fkey") {
			named = append(named, fe)
		}
	}
	if len(named) > 0 {
		return named
	}
	return all
}

// insert stores a new row of r with version 1, and its creation event
// in the same transaction (events.go).
func (s *Service) insert(ctx context.Context, r *resource, v values) (*record, error) {
	if err := s.checkRefs(ctx, r, v); err != nil {
		return nil, err
	}
	now := s.micros()
	cols := make([]string, 0, len(r.fields)+3)
	args := make([]any, 0, len(r.fields)+3)
	for _, f := range r.fields {
		cols = append(cols, f.name)
		args = append(args, v[f.name])
	}
	cols = append(cols, "created_at", "updated_at", "version")
	args = append(args, now, now, 1)
	q := `INSERT INTO ` + r.name + ` (` + strings.Join(cols, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(cols)-1) + `)`
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("insert %s: %w", r.singular, err)
	}
	defer tx.Rollback()
	id, err := s.db.InsertID(ctx, tx.Tx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("insert %s: %w", r.singular, fkError(r, err))
	}
	rec, err := r.scan(tx.QueryRowContext(ctx, s.db.Rebind(`SELECT `+r.cols+` FROM `+r.name+` WHERE id = ?`), id))
	if err != nil {
		return nil, fmt.Errorf("read back %s %d: %w", r.singular, id, err)
	}
	if err := s.emit(ctx, tx.Tx, r, opCreate, nil, rec); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("insert %s: %w", r.singular, fkError(r, err))
	}
	return rec, nil
}

// update replaces the fields of row id with v, atomically with the version
// check: the row is written only if its version is one of match (any
// version when match is nil). It returns errNotFound or errPrecondition
// when no row was written. before is the row as last read (for the
// events of the change, written in the same transaction: events.go).
func (s *Service) update(ctx context.Context, r *resource, id int64, v values, match []int64, before *record) (*record, error) {
	if err := s.checkRefs(ctx, r, v); err != nil {
		return nil, err
	}
	set := make([]string, 0, len(r.fields)+2)
	args := make([]any, 0, len(r.fields)+3+len(match))
	for _, f := range r.fields {
		set = append(set, f.name+" = ?")
		args = append(args, v[f.name])
	}
	set = append(set, "updated_at = ?", "version = version + 1")
	args = append(args, s.micros(), id)
	where, wargs := versionClause(match)
	args = append(args, wargs...)
	// RETURNING (PostgreSQL, SQLite ≥ 3.35) reads back exactly the row this
	// statement wrote, so the ETag sent matches the body sent.
	q := `UPDATE ` + r.name + ` SET ` + strings.Join(set, ", ") + ` WHERE id = ?` + where + ` RETURNING ` + r.cols
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("update %s %d: %w", r.singular, id, err)
	}
	defer tx.Rollback()
	rec, err := r.scan(tx.QueryRowContext(ctx, s.db.Rebind(q), args...))
	if errors.Is(err, sql.ErrNoRows) {
		_ = tx.Rollback()
		return nil, s.missOrStale(ctx, r, id)
	}
	if err != nil {
		return nil, fmt.Errorf("update %s %d: %w", r.singular, id, fkError(r, err))
	}
	if err := s.emit(ctx, tx.Tx, r, opUpdate, before, rec); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update %s %d: %w", r.singular, id, fkError(r, err))
	}
	return rec, nil
}

// remove deletes row id if its version is one of match (any when nil),
// with its deletion event in the same transaction (before is the row as
// last read).
func (s *Service) remove(ctx context.Context, r *resource, id int64, match []int64, before *record) error {
	where, wargs := versionClause(match)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("delete %s %d: %w", r.singular, id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM `+r.name+` WHERE id = ?`+where), append([]any{id}, wargs...)...)
	if db.IsForeignKeyViolation(err) {
		return errConflict
	}
	if err != nil {
		return fmt.Errorf("delete %s %d: %w", r.singular, id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		_ = tx.Rollback()
		return s.missOrStale(ctx, r, id)
	}
	if err := s.emit(ctx, tx.Tx, r, opDelete, before, &record{id: id}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		if db.IsForeignKeyViolation(err) {
			return errConflict
		}
		return fmt.Errorf("delete %s %d: %w", r.singular, id, err)
	}
	return nil
}

// versionClause is the If-Match part of a WHERE clause.
func versionClause(match []int64) (string, []any) {
	if match == nil {
		return "", nil
	}
	if len(match) == 0 {
		// If-Match named no version we could ever have: never matches.
		return " AND 1 = 0", nil
	}
	args := make([]any, len(match))
	for i, m := range match {
		args[i] = m
	}
	return " AND version IN (?" + strings.Repeat(", ?", len(match)-1) + ")", args
}

// missOrStale explains a write that touched no row: 404 or 412.
func (s *Service) missOrStale(ctx context.Context, r *resource, id int64) error {
	found, err := s.exists(ctx, r.name, id)
	switch {
	case err != nil:
		return err
	case found:
		return errPrecondition
	default:
		return errNotFound
	}
}
