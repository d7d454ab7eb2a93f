package hubaudit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/auditchain"
)

func openTest(t testing.TB, dir string, segSize int64) *Journal {
	t.Helper()
	j, err := OpenJournal(dir, segSize, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func appendN(t *testing.T, j *Journal, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rec := &auditchain.Record{EventID: auditchain.NewEventID(time.Now()), RequestID: "r", Timestamp: time.Now(), StatusCode: 200, Path: "/x"}
			wait, err := j.Append(rec)
			if err == nil {
				err = wait()
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// readAll returns every record in the journal directory, in order.
func readAll(t *testing.T, dir string) []auditchain.Record {
	t.Helper()
	j := &Journal{dir: dir, log: zap.NewNop()}
	segs, err := j.segments()
	if err != nil {
		t.Fatal(err)
	}
	var out []auditchain.Record
	for _, s := range segs {
		f, err := os.Open(filepath.Join(dir, segName(s)))
		if err != nil {
			t.Fatal(err)
		}
		for {
			kind, body, _, err := readFrame(f, nil)
			if err != nil {
				break
			}
			if kind == kindRecord {
				var r auditchain.Record
				if err := json.Unmarshal(body, &r); err != nil {
					t.Fatal(err)
				}
				out = append(out, r)
			}
		}
		f.Close()
	}
	return out
}

// checkChain asserts recs form one unbroken chain from seq 1.
func checkChain(t *testing.T, recs []auditchain.Record) {
	t.Helper()
	prev := ""
	for i, r := range recs {
		if r.Seq != int64(i+1) || r.PrevHash != prev || !r.Check() {
			t.Fatalf("record %d: seq %d, prev %q (want %q), valid %v", i, r.Seq, r.PrevHash, prev, r.Check())
		}
		prev = r.Hash
	}
}

func TestJournalAppendRotateReopen(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, dir, 4096) // small segments: many rotations
	appendN(t, j, 200)
	id := j.GatewayID()
	if j.Backlog() != 200 {
		t.Fatalf("backlog %d, want 200", j.Backlog())
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := (&Journal{dir: dir}).segments()
	if len(segs) < 5 {
		t.Fatalf("%d segments, want rotation", len(segs))
	}
	// Reopen: same gateway id, the chain goes on, the backlog is counted.
	j = openTest(t, dir, 4096)
	if j.GatewayID() != id || j.Backlog() != 200 {
		t.Fatalf("reopened: id %s (want %s), backlog %d", j.GatewayID(), id, j.Backlog())
	}
	appendN(t, j, 50)
	j.Close()
	recs := readAll(t, dir)
	if len(recs) != 250 {
		t.Fatalf("%d records, want 250", len(recs))
	}
	checkChain(t, recs)
}

func TestJournalTornTail(t *testing.T) {
	tests := []struct {
		name string
		cut  func(size int64) int64 // new size of the last segment
		junk []byte
	}{
		{"truncated last record", func(s int64) int64 { return s - 7 }, nil},
		{"half a frame header", func(s int64) int64 { return s }, []byte{0, 0, 1}},
		{"garbage after the last record", func(s int64) int64 { return s }, []byte{0, 0, 0, 9, 1, 2, 3, 4, 'R', '{'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			j := openTest(t, dir, 1<<20)
			appendN(t, j, 10)
			j.Close()
			segs, _ := (&Journal{dir: dir}).segments()
			last := filepath.Join(dir, segName(segs[len(segs)-1]))
			fi, _ := os.Stat(last)
			if err := os.Truncate(last, tt.cut(fi.Size())); err != nil {
				t.Fatal(err)
			}
			if tt.junk != nil {
				f, _ := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
				_, _ = f.Write(tt.junk)
				f.Close()
			}
			j = openTest(t, dir, 1<<20)
			appendN(t, j, 5)
			j.Close()
			recs := readAll(t, dir)
			want := 15
			if tt.junk == nil {
				want = 14 // the torn record is gone: it was never acknowledged
			}
			if len(recs) != want {
				t.Fatalf("%d records, want %d", len(recs), want)
			}
			checkChain(t, recs)
		})
	}
}

func TestJournalLock(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, dir, 1<<20)
	defer j.Close()
	if _, err := OpenJournal(dir, 1<<20, zap.NewNop()); err == nil {
		t.Fatal("a second journal opened the same directory")
	}
}

func TestFrameRoundTrip(t *testing.T) {
	b := appendFrame(nil, kindRecord, []byte(`{"a":1}`))
	kind, body, n, err := readFrame(bytesReader(b), nil)
	if err != nil || kind != kindRecord || string(body) != `{"a":1}` || n != len(b) {
		t.Fatalf("readFrame = %c %s %d %v", kind, body, n, err)
	}
	b[len(b)-1] ^= 1
	if _, _, _, err := readFrame(bytesReader(b), nil); err == nil {
		t.Fatal("corrupt frame accepted")
	}
}

// The shipped position is saved without fsync within a segment: a crash
// may leave it torn, or older than the oldest segment left. Either way the
// journal opens and counts everything still on disk as not shipped (the
// store ignores records it has).
func TestJournalCursorLostOrStale(t *testing.T) {
	for name, content := range map[string]string{
		"torn":  `{"segment":`,
		"empty": ``,
		"stale": `{"segment":0,"offset":12}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			j := openTest(t, dir, 4096)
			appendN(t, j, 60)
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, cursorFile), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			j = openTest(t, dir, 4096)
			defer j.Close()
			if j.Backlog() != 60 {
				t.Fatalf("backlog %d after a %s position, want 60", j.Backlog(), name)
			}
		})
	}
}
