package db

import (
	"context"
	"database/sql"
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
