package db

import (
	"context"
	"database/sql"
	"strconv"
	"sync/atomic"
)

type txKey struct{}

// WithTx returns ctx carrying tx: every Exec, Query, QueryRow and InsertID
// given that context runs inside tx. It is how an atomic batch (issue 14,
// upstream/batchtx) puts the domain's unchanged handlers, one request
// after another, into one transaction.
func WithTx(ctx context.Context, tx *sql.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// TxOf returns the transaction ctx carries, or nil.
func TxOf(ctx context.Context) *sql.Tx {
	tx, _ := ctx.Value(txKey{}).(*sql.Tx)
	return tx
}

// Tx is a transaction from Begin: a real one, or a savepoint inside the
// transaction the context already carries (an atomic batch's, WithTx), so
// a handler that writes "in one transaction" stays inside the batch's and
// is undone with it. Commit and Rollback act on whichever it is; Rollback
// after Commit does nothing, as with database/sql.
type Tx struct {
	*sql.Tx
	savepoint string // "" for a real transaction
	done      bool
}

var savepoints atomic.Uint64

// Begin starts a transaction, or a savepoint of the one ctx carries.
func (d *DB) Begin(ctx context.Context) (*Tx, error) {
	if outer := TxOf(ctx); outer != nil {
		sp := "hub_sp_" + strconv.FormatUint(savepoints.Add(1), 10)
		if _, err := outer.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
			return nil, err
		}
		return &Tx{Tx: outer, savepoint: sp}, nil
	}
	tx, err := d.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &Tx{Tx: tx}, nil
}

// Commit commits the transaction, or releases the savepoint (its writes
// then commit or roll back with the outer transaction).
func (t *Tx) Commit() error {
	if t.savepoint == "" {
		return t.Tx.Commit()
	}
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	_, err := t.Tx.Exec("RELEASE SAVEPOINT " + t.savepoint)
	return err
}

// Rollback rolls the transaction back, or undoes the savepoint's writes.
func (t *Tx) Rollback() error {
	if t.savepoint == "" {
		return t.Tx.Rollback()
	}
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	if _, err := t.Tx.Exec("ROLLBACK TO SAVEPOINT " + t.savepoint); err != nil {
		return err
	}
	_, err := t.Tx.Exec("RELEASE SAVEPOINT " + t.savepoint)
	return err
}
