package graphql

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/domain"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// env is the GraphQL endpoint on a real database whose queries are
// counted (the database/sql driver is wrapped).
type env struct {
	t       *testing.T
	d       *db.DB
	mux     *http.ServeMux
	queries *atomic.Int64
	who     *assertion.Claims
}

// each runs f on SQLite and, when HUB_TEST_POSTGRES_URL is set, PostgreSQL.
func each(t *testing.T, opts Options, f func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "hub.db")
		d, err := db.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		d.Close()
		f(t, newEnv(t, db.SQLite, "sqlite", "file:"+p+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)", opts))
	})
	t.Run("postgres", func(t *testing.T) {
		url := dbtest.PostgresURL(t)
		d, err := db.Open(url)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		d.Close()
		f(t, newEnv(t, db.Postgres, "pgx", url, opts))
	})
}

func newEnv(t *testing.T, dialect db.Dialect, driverName, dsn string, opts Options) *env {
	t.Helper()
	probe, err := sql.Open(driverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	n := &atomic.Int64{}
	sdb := sql.OpenDB(&countingConnector{drv: probe.Driver(), dsn: dsn, n: n})
	probe.Close()
	t.Cleanup(func() { sdb.Close() })
	d := &db.DB{DB: sdb, Dialect: dialect}
	svc := domain.New(d, []byte("test cursor key, 32 bytes long!!"))
	mux := http.NewServeMux()
	svc.Register(mux)
	h, err := New(mux, svc, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.Register(mux)
	return &env{t: t, d: d, mux: mux, queries: n,
		who: &assertion.Claims{Subject: "1", Role: "admin", Method: "jwt", Scopes: []string{"read", "write", "admin"}}}
}

// user inserts a user and returns its id.
func (e *env) user(email, nom, role string) int64 {
	e.t.Helper()
	now := time.Now().UnixMicro()
	id, err := e.d.InsertID(context.Background(), nil,
		`INSERT INTO users (email, nom, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		email, nom, role, "x", now, now)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// rest sends a REST request as e.who and returns the decoded body.
func (e *env) rest(method, path string, body any) map[string]any {
	e.t.Helper()
	b, _ := json.Marshal(body)
	r := httptest.NewRequest(method, path, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	r = r.WithContext(httpx.WithIdentity(r.Context(), e.who))
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	if w.Code >= 300 {
		e.t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return m
}

// gqlResult is a GraphQL response.
type gqlResult struct {
	status int
	Data   map[string]any `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	raw string
}

// gql POSTs a GraphQL request as e.who.
func (e *env) gql(query string, vars map[string]any) *gqlResult {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	r := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	r = r.WithContext(httpx.WithIdentity(r.Context(), e.who))
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	res := &gqlResult{status: w.Code, raw: w.Body.String()}
	if err := json.Unmarshal(w.Body.Bytes(), res); err != nil {
		e.t.Fatalf("bad GraphQL answer %d %s: %v", w.Code, w.Body, err)
	}
	return res
}

// code is the extensions.code of the first error, "" without errors.
func (g *gqlResult) code() string {
	if len(g.Errors) == 0 {
		return ""
	}
	c, _ := g.Errors[0].Extensions["code"].(string)
	return c
}

// countingConnector counts the queries (SELECTs and writes) sent to the
// database: the N+1 test reads it.
type countingConnector struct {
	drv driver.Driver
	dsn string
	n   *atomic.Int64
}

func (c *countingConnector) Connect(context.Context) (driver.Conn, error) {
	cn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: cn, n: c.n}, nil
}

func (c *countingConnector) Driver() driver.Driver { return c.drv }

type countingConn struct {
	driver.Conn
	n *atomic.Int64
}

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.n.Add(1)
	return qc.QueryContext(ctx, q, args)
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	ec, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.n.Add(1)
	return ec.ExecContext(ctx, q, args)
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return c.Conn.Begin() //nolint:staticcheck // fallback of drivers without BeginTx
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, q)
	}
	return c.Conn.Prepare(q)
}

func (c *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// get sends a GET as e.who.
func (e *env) get(target string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r = r.WithContext(httpx.WithIdentity(r.Context(), e.who))
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	return w
}
