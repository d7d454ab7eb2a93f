package hubaudit

import (
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/auditchain"
)

// syncCtl controls the Sync of the journal's segment files once armed: a
// kill -9 test cannot see a missing fsync (the page cache survives the
// process), so these tests stand below the page cache.
type syncCtl struct {
	armed    atomic.Bool
	entered  chan struct{} // one value per armed Sync call
	gate     chan struct{} // closed to let armed Syncs return
	err      error         // what armed Syncs return
	returned atomic.Int32  // armed Syncs that have returned
}

func newSyncCtl(err error) *syncCtl {
	return &syncCtl{entered: make(chan struct{}, 16), gate: make(chan struct{}), err: err}
}

type ctlFile struct {
	*os.File
	ctl *syncCtl
}

func (f *ctlFile) Sync() error {
	if !f.ctl.armed.Load() {
		return f.File.Sync()
	}
	f.ctl.entered <- struct{}{}
	<-f.ctl.gate
	defer f.ctl.returned.Add(1)
	if f.ctl.err != nil {
		return f.ctl.err
	}
	return f.File.Sync()
}

func openCtlJournal(t *testing.T, ctl *syncCtl) *Journal {
	t.Helper()
	j, err := openJournal(t.TempDir(), 1<<20, zap.NewNop(), func(name string, flag int, perm os.FileMode) (segmentFile, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return &ctlFile{File: f, ctl: ctl}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctl.armed.Store(false)
		j.Close()
	})
	return j
}

func testRecord() *auditchain.Record {
	return &auditchain.Record{EventID: auditchain.NewEventID(time.Now()), Timestamp: time.Now(), HTTPMethod: "POST", StatusCode: 201}
}

// TestAppendWaitsForSync: a record is acknowledged (its wait returns) only
// after the segment's Sync returned. Deleting the syncer's Sync call makes
// this test fail ("Sync was never called" or an early acknowledgement).
func TestAppendWaitsForSync(t *testing.T) {
	ctl := newSyncCtl(nil)
	j := openCtlJournal(t, ctl)
	ctl.armed.Store(true)
	wait, err := j.Append(testRecord())
	if err != nil {
		t.Fatal(err)
	}
	type ack struct {
		err           error
		syncsReturned int32
	}
	done := make(chan ack, 1)
	go func() {
		err := wait()
		done <- ack{err, ctl.returned.Load()}
	}()
	select {
	case <-ctl.entered:
	case a := <-done:
		t.Fatalf("record acknowledged (err %v) without any Sync", a.err)
	case <-time.After(10 * time.Second):
		t.Fatal("Sync was never called")
	}
	select {
	case a := <-done:
		t.Fatalf("record acknowledged (err %v) while Sync was still running", a.err)
	default:
	}
	close(ctl.gate)
	a := <-done
	if a.err != nil || a.syncsReturned < 1 {
		t.Fatalf("ack err %v after %d returned Syncs, want nil after at least 1", a.err, a.syncsReturned)
	}
	if lim, _ := j.limit(j.fseq); lim <= frameHeaderLen+100 {
		t.Fatalf("durable offset %d does not cover the record", lim)
	}
}

// TestSyncErrorFailsRequest: when Sync fails, the request is answered 503
// problem+json (Retry-After), none of the inner handler's answer reaches the
// client, nothing becomes shippable, and later requests are refused too (a
// failed fsync may have dropped the dirty pages: nothing is acknowledged
// until a restart recovers the journal).
func TestSyncErrorFailsRequest(t *testing.T) {
	ctl := newSyncCtl(errors.New("EIO"))
	close(ctl.gate)
	h := testHandler(t)
	h.journal.Close()
	h.journal = openCtlJournal(t, ctl)
	ctl.armed.Store(true)
	for i := 0; i < 2; i++ {
		req := caddyhttp.PrepareRequest(httptest.NewRequest("POST", "/api/v1/chantiers", strings.NewReader(`{"nom":"x"}`)), caddy.NewReplacer(), nil, nil)
		w := httptest.NewRecorder()
		err := h.ServeHTTP(w, req, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Location", "/api/v1/chantiers/9")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id":9}`))
			return nil
		}))
		if err != nil {
			t.Fatalf("request %d: err %v", i, err)
		}
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Content-Type") != "application/problem+json" ||
			w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "audit-unavailable") {
			t.Fatalf("request %d: %d %v %s, want 503 problem+json", i, w.Code, w.Header(), w.Body)
		}
		if w.Header().Get("Location") != "" || strings.Contains(w.Body.String(), `"id":9`) {
			t.Fatalf("request %d: the unrecorded answer leaked: %v %s", i, w.Header(), w.Body)
		}
	}
	if lim, _ := h.journal.limit(h.journal.fseq); lim > frameHeaderLen+200 {
		t.Fatalf("durable offset %d: an unsynced record became shippable", lim)
	}
}

// TestSyncErrorThroughProxy: over a real connection, with a reverse proxy
// streaming a large upstream body inside hub_audit, a failed Sync still
// reaches the client as a complete 503 problem (flushed before the proxy's
// writes are refused and it aborts).
func TestSyncErrorThroughProxy(t *testing.T) {
	ctl := newSyncCtl(errors.New("EIO"))
	close(ctl.gate)
	h := testHandler(t)
	h.journal.Close()
	h.journal = openCtlJournal(t, ctl)
	ctl.armed.Store(true)
	big := strings.Repeat("x", 4<<20)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(big))
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		_ = h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			proxy.ServeHTTP(w, r)
			return nil
		}))
	}))
	gw.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer gw.Close()
	resp, err := http.Get(gw.URL + "/api/v1/documents/1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "audit-unavailable") {
		t.Fatalf("%d %q (%v), want a whole 503 problem", resp.StatusCode, body, err)
	}
}
