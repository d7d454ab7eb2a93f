package domain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

var testKey = []byte("test cursor key, 32 bytes long!!")

// harness is a Service on a test database, served through a mux whose
// requests carry a verified identity, as behind the gateway.
type harness struct {
	t   testing.TB
	d   *db.DB
	s   *Service
	mux *http.ServeMux
	who *assertion.Claims // nil: anonymous
}

func newHarness(t testing.TB, d *db.DB) *harness {
	t.Helper()
	s := New(d, testKey)
	// A strictly increasing clock keeps created_at distinct and ordered.
	var tick atomic.Int64
	base := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Millisecond) }
	mux := http.NewServeMux()
	s.Register(mux)
	return &harness{t: t, d: d, s: s, mux: mux, who: &assertion.Claims{Subject: "1", Role: "admin", Method: "jwt", Scopes: []string{"read", "write", "admin"}}}
}

// do sends a request; body is marshalled unless it is a string. hdr holds
// header name/value pairs.
func (h *harness) do(method, path string, body any, hdr ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	r := httptest.NewRequest(method, path, rd)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	if h.who != nil {
		r = r.WithContext(httpx.WithIdentity(r.Context(), h.who))
	}
	w := httptest.NewRecorder()
	h.mux.ServeHTTP(w, r)
	return w
}

// ok sends a request, checks the status and decodes the JSON body.
func (h *harness) ok(want int, method, path string, body any, hdr ...string) map[string]any {
	h.t.Helper()
	w := h.do(method, path, body, hdr...)
	if w.Code != want {
		h.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, w.Code, want, w.Body)
	}
	if w.Body.Len() == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		h.t.Fatalf("%s %s: bad JSON %q: %v", method, path, w.Body, err)
	}
	return m
}

// create POSTs and returns the new id.
func (h *harness) create(resource string, body map[string]any) int64 {
	h.t.Helper()
	m := h.ok(http.StatusCreated, "POST", "/api/v1/"+resource, body)
	return int64(m["id"].(float64))
}

// user inserts a user directly (user writes are not this package's).
func (h *harness) user(email, nom, role string) int64 {
	h.t.Helper()
	id, err := h.d.InsertID(context.Background(), nil,
		`INSERT INTO users (email, nom, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		email, nom, role, "secret-hash", h.s.micros(), h.s.micros())
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// problemFields returns the type and the fields named by a problem body.
func problemFields(t *testing.T, w *httptest.ResponseRecorder) (string, []string) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want problem+json: %s", ct, w.Body)
	}
	var p struct {
		Type   string `json:"type"`
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, e := range p.Errors {
		if e.Message == "" {
			t.Errorf("empty message for field %q", e.Field)
		}
		fields = append(fields, e.Field)
	}
	return p.Type, fields
}

func path(resource string, id int64) string { return fmt.Sprintf("/api/v1/%s/%d", resource, id) }
