package hubaudit

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// fileLog stands below the page cache for the group-commit tests: it
// records every Write and Sync made through the journal's file interface
// (segmentFile) and, once armed, holds each Sync until released and makes
// it return a chosen error.
type fileLog struct {
	mu      sync.Mutex
	written bytes.Buffer // bytes written to record segments, in order
	synced  int          // how much of written a returned, successful Sync covers
	writes  int          // Write calls while armed
	armed   bool
	failW   error         // once armed, what Write returns after writing half
	entered chan struct{} // one value per armed Sync
	release chan error    // one value per armed Sync: what it returns
}

type logFile struct {
	*os.File
	l *fileLog
}

func (f *logFile) Write(p []byte) (int, error) {
	f.l.mu.Lock()
	failW := f.l.failW
	if !f.l.armed {
		failW = nil
	}
	f.l.mu.Unlock()
	if failW != nil {
		// A torn write: half the bytes reach the file, then the error.
		n, _ := f.File.Write(p[:len(p)/2])
		return n, failW
	}
	n, err := f.File.Write(p)
	f.l.mu.Lock()
	f.l.written.Write(p[:n])
	if f.l.armed {
		f.l.writes++
	}
	f.l.mu.Unlock()
	return n, err
}

func (f *logFile) Sync() error {
	f.l.mu.Lock()
	armed, upTo := f.l.armed, f.l.written.Len()
	f.l.mu.Unlock()
	if armed {
		f.l.entered <- struct{}{}
		if err := <-f.l.release; err != nil {
			return err
		}
	}
	if err := f.File.Sync(); err != nil {
		return err
	}
	f.l.mu.Lock()
	f.l.synced = max(f.l.synced, upTo)
	f.l.mu.Unlock()
	return nil
}

// durableUpTo returns the bytes written and covered by a successful Sync.
func (l *fileLog) durableUpTo() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.written.Bytes()[:l.synced]...)
}

func openLogJournal(t *testing.T, l *fileLog) *Journal {
	t.Helper()
	j, err := openJournal(t.TempDir(), 1<<20, zap.NewNop(), func(name string, flag int, perm os.FileMode) (segmentFile, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return &logFile{File: f, l: l}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.mu.Lock()
		l.armed = false
		l.mu.Unlock()
		j.Close()
	})
	return j
}

// ackCheck is a client's response writer: when a header is released it
// records whether the request's record (found by its request id) was
// already written and fsync'd through the file interface.
type ackCheck struct {
	*httptest.ResponseRecorder
	l       *fileLog
	durable bool
}

func (a *ackCheck) WriteHeader(code int) {
	rid := a.Header().Get("X-Request-Id")
	a.durable = rid != "" && bytes.Contains(a.l.durableUpTo(), []byte(`"request_id":"`+rid+`"`))
	a.ResponseRecorder.WriteHeader(code)
}

func (a *ackCheck) Write(b []byte) (int, error) { return a.ResponseRecorder.Write(b) }

// serveConcurrently sends n POSTs through h at once; each inner handler
// answers 201. It returns the writers after every request returned.
func serveConcurrently(t *testing.T, h *Handler, l *fileLog, n int) []*ackCheck {
	t.Helper()
	out := make([]*ackCheck, n)
	var wg sync.WaitGroup
	for i := range n {
		out[i] = &ackCheck{ResponseRecorder: httptest.NewRecorder(), l: l}
		wg.Add(1)
		go func(w *ackCheck, i int) {
			defer wg.Done()
			req := caddyhttp.PrepareRequest(httptest.NewRequest("POST", "/api/v1/chantiers", strings.NewReader(fmt.Sprintf(`{"nom":"%d"}`, i))), caddy.NewReplacer(), nil, nil)
			err := h.ServeHTTP(w, req, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Location", fmt.Sprintf("/api/v1/chantiers/%d", i))
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte(`{}`))
				return nil
			}))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		}(out[i], i)
	}
	wg.Wait()
	return out
}

// TestGroupCommitAcksOnlyDurableRecords: concurrent requests are answered
// only once their own record was written and fsync'd through the journal's
// file interface; while an fsync is held, the records queued behind it go
// to disk together, with one write and one fsync (before issue 12, each
// record was its own write).
func TestGroupCommitAcksOnlyDurableRecords(t *testing.T) {
	const n = 8
	l := &fileLog{entered: make(chan struct{}, 2*n), release: make(chan error, 2*n)}
	h := testHandler(t)
	h.journal.Close()
	h.journal = openLogJournal(t, l)
	l.mu.Lock()
	l.armed = true
	l.mu.Unlock()

	done := make(chan []*ackCheck, 1)
	go func() { done <- serveConcurrently(t, h, l, n) }()
	// The first round's fsync is held; every other request queues behind it.
	<-l.entered
	waitFor(t, "every record to be queued", func() bool { return h.journal.Backlog() == n })
	select {
	case ws := <-done:
		t.Fatalf("requests answered while the first fsync was held: %d", ws[0].Code)
	default:
	}
	l.release <- nil
	// The second round: everything queued meanwhile, one write.
	rounds := 1
	for finished := false; !finished; {
		select {
		case <-l.entered:
			rounds++
			l.release <- nil
		case ws := <-done:
			finished = true
			for i, w := range ws {
				if w.Code != http.StatusCreated || !w.durable {
					t.Errorf("request %d: %d, record durable before the answer: %v", i, w.Code, w.durable)
				}
			}
		}
	}
	l.mu.Lock()
	writes := l.writes
	l.mu.Unlock()
	if writes > 2 || rounds > 2 {
		t.Fatalf("%d records in two groups took %d writes and %d fsyncs, want at most 2 and 2", n, writes, rounds)
	}
}

// TestGroupCommitFailedSyncAcksNothing: a crash between the write and the
// fsync, seen as an fsync that fails while concurrent requests wait: none
// of them gets its 2xx, every one gets the documented 503 audit-unavailable
// problem, nothing becomes shippable, and later requests are refused too.
func TestGroupCommitFailedSyncAcksNothing(t *testing.T) {
	const n = 8
	l := &fileLog{entered: make(chan struct{}, 2*n), release: make(chan error, 2*n)}
	h := testHandler(t)
	h.journal.Close()
	h.journal = openLogJournal(t, l)
	l.mu.Lock()
	l.armed = true
	l.mu.Unlock()
	durableBefore, _ := h.journal.limit(h.journal.fseq)

	done := make(chan []*ackCheck, 1)
	go func() { done <- serveConcurrently(t, h, l, n) }()
	<-l.entered
	waitFor(t, "every record to be queued", func() bool { return h.journal.Backlog() == n })
	eio := errors.New("EIO")
	var ws []*ackCheck
	l.release <- eio
	for ws == nil {
		select {
		case <-l.entered:
			l.release <- eio
		case ws = <-done:
		}
	}
	for i, w := range ws {
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(w.Body.String(), "urn:hubchantier:problem:audit-unavailable") || w.Header().Get("Location") != "" {
			t.Errorf("request %d: %d %v %s, want the 503 audit-unavailable problem", i, w.Code, w.Header(), w.Body)
		}
	}
	if lim, _ := h.journal.limit(h.journal.fseq); lim != durableBefore {
		t.Fatalf("durable offset moved from %d to %d: an unsynced record became shippable", durableBefore, lim)
	}
	if _, err := h.journal.Append(testRecord()); err == nil {
		t.Fatal("the journal accepted a record after a failed fsync")
	}
}

// TestGroupCommitFailedWriteAcksNothing: a write that fails half-way
// (ENOSPC, EIO) while concurrent requests wait: none gets its 2xx, and the
// journal refuses what follows (the round's records are chained already).
func TestGroupCommitFailedWriteAcksNothing(t *testing.T) {
	const n = 8
	l := &fileLog{entered: make(chan struct{}, 2*n), release: make(chan error, 2*n), failW: errors.New("ENOSPC")}
	h := testHandler(t)
	h.journal.Close()
	h.journal = openLogJournal(t, l)
	l.mu.Lock()
	l.armed = true
	l.mu.Unlock()
	for i, w := range serveConcurrently(t, h, l, n) {
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "urn:hubchantier:problem:audit-unavailable") || w.durable {
			t.Errorf("request %d: %d %s, want the 503 audit-unavailable problem", i, w.Code, w.Body)
		}
	}
	if _, err := h.journal.Append(testRecord()); err == nil {
		t.Fatal("the journal accepted a record after a failed write")
	}
}

// TestSegmentsPreallocated: a segment is created at its full size, zero
// filled, so writing records changes no file size (what lets fdatasync skip
// metadata); the zeros read as the end of the segment, after a crash too
// (no Close), and a clean Close trims them.
func TestSegmentsPreallocated(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, dir, 1<<20)
	seg := filepath.Join(dir, segName(j.fseq))
	size := func() int64 {
		fi, err := os.Stat(seg)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if got := size(); got != 1<<20 {
		t.Fatalf("new segment is %d bytes, want preallocated 1 MiB", got)
	}
	appendN(t, j, 20)
	if got := size(); got != 1<<20 {
		t.Fatalf("segment grew to %d bytes while records were written", got)
	}
	if got := len(readAll(t, dir)); got != 20 {
		t.Fatalf("%d records read before the zeros, want 20", got)
	}
	// A crash leaves the zero tail: copy the directory as it is now.
	crashed := t.TempDir()
	for _, name := range []string{gatewayIDFile, filepath.Base(seg)} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got, written := size(), j.fsize; got != written {
		t.Fatalf("closed segment is %d bytes, want trimmed to %d", got, written)
	}
	if _, err := os.Stat(filepath.Join(dir, spareFile)); !os.IsNotExist(err) {
		t.Fatalf("the spare segment outlived Close: %v", err)
	}
	j2 := openTest(t, crashed, 1<<20)
	if j2.Backlog() != 20 || j2.HeadSeq() != 20 {
		t.Fatalf("after a crash with a zero tail: backlog %d, head %d, want 20 and 20", j2.Backlog(), j2.HeadSeq())
	}
	appendN(t, j2, 5)
	j2.Close()
	recs := readAll(t, crashed)
	if len(recs) != 25 {
		t.Fatalf("%d records, want 25", len(recs))
	}
	checkChain(t, recs)
}
