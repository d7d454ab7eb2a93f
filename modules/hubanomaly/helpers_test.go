package hubanomaly

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

// clock is the shared injectable clock: tests move time instead of sleeping.
type clock = testutil.Clock

func newClock() *clock { return testutil.NewClock(testutil.Start) }

// fakeStore is a hub.Store on a map, expiring entries on the test clock.
type fakeStore struct {
	mu   sync.Mutex
	now  func() time.Time
	m    map[string]fakeEntry
	gets int
	err  error
}

type fakeEntry struct {
	v   []byte
	exp time.Time
}

func newFakeStore(now func() time.Time) *fakeStore {
	return &fakeStore{now: now, m: map[string]fakeEntry{}}
}

func (s *fakeStore) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	if s.err != nil {
		return nil, s.err
	}
	e, ok := s.m[key]
	if !ok || (!e.exp.IsZero() && !s.now().Before(e.exp)) {
		return nil, hub.ErrNotFound
	}
	return e.v, nil
}

func (s *fakeStore) Set(_ context.Context, key string, v []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	e := fakeEntry{v: v}
	if ttl > 0 {
		e.exp = s.now().Add(ttl)
	}
	s.m[key] = e
	return nil
}

func (s *fakeStore) SetNX(context.Context, string, []byte, time.Duration) (bool, error) {
	panic("unused")
}
func (s *fakeStore) Incr(context.Context, string, int64, time.Duration) (int64, error) {
	panic("unused")
}
func (s *fakeStore) Delete(context.Context, ...string) error { panic("unused") }
func (s *fakeStore) Ping(context.Context) error              { return nil }
func (s *fakeStore) Kind() string                            { return "fake" }

func (s *fakeStore) getCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

// newHandler compiles h on store, driven by c. Its one sink is not started:
// tests read the events it queued with events().
func newHandler(t testing.TB, h *Handler, c *clock, store hub.Store) *Handler {
	t.Helper()
	h.now = c.Now
	h.log = zap.NewNop()
	if h.GatewayID == "" {
		h.GatewayID = "gw-test"
	}
	if err := h.compile(); err != nil {
		t.Fatalf("compile: %v", err)
	}
	h.pool = &pool{keyed: newPrincipals(h.MaxPrincipals), anonymous: newPrincipals(h.MaxPrincipals)}
	h.store = store
	h.sinks = []*sink{newSink(sinkUpstream, 10000, 1, time.Second, h.log, h.metrics)}
	return h
}

// events drains the events queued so far.
func events(h *Handler) []*Event {
	var out []*Event
	for {
		select {
		case ev := <-h.sinks[0].queue:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func keyID(id string) *hub.Identity {
	return &hub.Identity{Subject: "7", Method: "api_key", KeyID: id}
}

// req describes one synthetic request.
type req struct {
	path   string
	status int
	ua     string
	id     *hub.Identity
	ip     string
}

// result is one answer of the handler.
type result struct {
	status int
	header http.Header
	body   []byte
	next   bool
}

func (r result) problem(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.body)
	}
	return m
}

func serve(t *testing.T, h *Handler, q req) result {
	t.Helper()
	if q.path == "" {
		q.path = "/api/v1/chantiers"
	}
	if q.status == 0 {
		q.status = http.StatusOK
	}
	if q.ip == "" {
		q.ip = "10.0.0.1"
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, q.path, nil)
	r.Header.Set("User-Agent", q.ua)
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	if q.id != nil {
		hub.SetIdentity(r, q.id)
	}
	caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, q.ip)
	called := false
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		called = true
		w.WriteHeader(q.status)
		return nil
	})
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return result{status: w.Code, header: w.Header(), body: w.Body.Bytes(), next: called}
}

// rules lists the rules of evs.
func rules(evs []*Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Rule
	}
	return out
}
