package hubaudit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/modules/hub"
)

// Sink receives batches of records (each a JSON object). It must be
// idempotent by event_id: after a crash the last batch may be sent again.
type Sink interface {
	Send(ctx context.Context, records [][]byte) error
}

// HTTPSink posts batches to the upstream's POST /internal/audit through
// the hub app's internal client.
type HTTPSink struct {
	// Client is the hub app's client of the upstream's internal API
	// (hub.App.Internal): base URL, shared secret, metrics.
	Client *hub.InternalClient
	// Secret is the gateway↔upstream shared secret; it signs each batch's
	// checkpoint (auditchain.CheckpointKey).
	Secret string
}

// Send posts a contract.AuditBatch, {"records":[…],"checkpoint":{…}}, and
// expects a 2xx. The records go as journaled, without decoding them. The
// checkpoint is the signed head of the chain after the batch (its last
// record): the store keeps it outside audit_logs so that deleting the
// newest records shows (auditchain.Checkpoint). The call is not retried
// here: the shipper retries with backoff.
func (s *HTTPSink) Send(ctx context.Context, records [][]byte) error {
	var b bytes.Buffer
	// Sized once: growing a buffer of a few hundred KiB by doubling was
	// most of the shipper's CPU (issue 12).
	size := len(`{"records":[],"checkpoint":}`) + 512
	for _, r := range records {
		size += len(r) + 1
	}
	b.Grow(size)
	b.WriteString(`{"records":[`)
	for i, r := range records {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r)
	}
	b.WriteString(`]`)
	if cp, ok := checkpointOf(records, []byte(s.Secret)); ok {
		cb, _ := json.Marshal(cp)
		b.WriteString(`,"checkpoint":`)
		b.Write(cb)
	}
	b.WriteString(`}`)
	resp, err := s.Client.Do(ctx, hub.InternalCall{Method: http.MethodPost, Path: contract.PathAudit, Body: b.Bytes()})
	if err != nil {
		return err
	}
	if !resp.OK() {
		return fmt.Errorf("audit store answered %d: %s", resp.Status, bytes.TrimSpace(resp.Detail))
	}
	return nil
}

// checkpointOf signs the head of the chain at the last record of a batch.
func checkpointOf(records [][]byte, secret []byte) (auditchain.Checkpoint, bool) {
	if len(records) == 0 || len(secret) == 0 {
		return auditchain.Checkpoint{}, false
	}
	var last struct {
		GatewayID string    `json:"gateway_id"`
		Seq       int64     `json:"seq"`
		Hash      string    `json:"hash"`
		Timestamp time.Time `json:"timestamp"`
	}
	if err := json.Unmarshal(records[len(records)-1], &last); err != nil || last.GatewayID == "" {
		return auditchain.Checkpoint{}, false
	}
	cp := auditchain.Checkpoint{GatewayID: last.GatewayID, Seq: last.Seq, Hash: last.Hash, Timestamp: last.Timestamp}
	cp.Sign(auditchain.CheckpointKey(secret))
	return cp, true
}

// Shipper sends the journal's records to a sink in order, in batches,
// retrying with capped exponential backoff, and persists the shipped
// position after each accepted batch; shipped segments are deleted.
type Shipper struct {
	j         *Journal
	batchSize int
	interval  time.Duration
	log       *zap.Logger
	// onError is called after each failed send (the metric).
	onError func()
	// sleep waits d or until ctx ends (tests replace it).
	sleep func(ctx context.Context, d time.Duration) bool

	mu   sync.Mutex
	sink Sink

	cancel context.CancelFunc
	done   chan struct{}
}

// Backoff bounds between failed sends.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// NewShipper returns a shipper for j; Start runs it.
func NewShipper(j *Journal, batchSize int, interval time.Duration, log *zap.Logger) *Shipper {
	return &Shipper{j: j, batchSize: batchSize, interval: interval, log: log, onError: func() {}, sleep: sleepCtx}
}

// SetSink replaces the sink (a config reload may change the upstream).
func (s *Shipper) SetSink(k Sink) {
	s.mu.Lock()
	s.sink = k
	s.mu.Unlock()
}

func (s *Shipper) currentSink() Sink {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sink
}

// Start begins shipping in the background.
func (s *Shipper) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
}

// Stop ends shipping and waits for the loop to return. Unshipped records
// stay in the journal for the next start.
func (s *Shipper) Stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
}

func (s *Shipper) run(ctx context.Context) {
	cur, err := s.j.loadCursor(nil)
	if err != nil {
		s.log.Error("audit shipper cannot start", zap.Error(err))
		return
	}
	rd := &segReader{}
	defer rd.close()
	backoff := minBackoff
	for ctx.Err() == nil {
		batch, next, err := s.j.readBatch(rd, cur, s.batchSize)
		if err != nil {
			s.log.Error("audit shipper: reading the journal", zap.Error(err))
			if !s.sleep(ctx, time.Second) {
				return
			}
			continue
		}
		if len(batch) == 0 {
			if next != cur {
				cur = s.advance(cur, next, 0)
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-s.j.notify:
			case <-time.After(time.Second):
			}
			continue
		}
		sink := s.currentSink()
		if sink == nil {
			if !s.sleep(ctx, time.Second) {
				return
			}
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = sink.Send(sctx, batch)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.onError()
			s.log.Warn("audit shipper: send failed, will retry", zap.Int("records", len(batch)),
				zap.Int64("backlog", s.j.Backlog()), zap.Duration("retry_in", backoff), zap.Error(err))
			if !s.sleep(ctx, jitter(backoff)) {
				return
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		cur = s.advance(cur, next, len(batch))
		if len(batch) < s.batchSize && s.interval > 0 {
			// A short batch: let records accumulate a little.
			if !s.sleep(ctx, s.interval) {
				return
			}
		}
	}
}

// advance records that everything before next is shipped.
func (s *Shipper) advance(cur, next cursor, shipped int) cursor {
	if err := s.j.saveCursor(next, next.Segment != cur.Segment); err != nil {
		// Not fatal: at worst the batch is sent again after a restart,
		// and the store ignores event ids it has.
		s.log.Error("audit shipper: saving the shipped position", zap.Error(err))
	}
	s.j.backlog.Add(-int64(shipped))
	if next.Segment != cur.Segment {
		s.j.removeBefore(next.Segment)
	}
	return next
}

// jitter spreads d by ±20% so gateways do not retry in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// segReader keeps the segment being shipped open between batches.
type segReader struct {
	seg uint64
	off int64
	f   *os.File
	br  *bufio.Reader
	buf []byte
}

func (r *segReader) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// readBatch reads up to max records from cur, not past what is fsync'd.
// At the end of a closed segment it moves to the next one (next differs
// from cur with an empty batch).
func (j *Journal) readBatch(rd *segReader, cur cursor, max int) ([][]byte, cursor, error) {
	limit, active := j.limit(cur.Segment)
	if rd.f == nil || rd.seg != cur.Segment || rd.off != cur.Offset {
		rd.close()
		f, err := os.Open(filepath.Join(j.dir, segName(cur.Segment)))
		if errors.Is(err, os.ErrNotExist) {
			if cur.Segment < active {
				return nil, cursor{Segment: cur.Segment + 1}, nil // deleted or never written
			}
			return nil, cur, nil
		}
		if err != nil {
			return nil, cur, err
		}
		if _, err := f.Seek(cur.Offset, io.SeekStart); err != nil {
			f.Close()
			return nil, cur, err
		}
		rd.f, rd.seg, rd.off, rd.br = f, cur.Segment, cur.Offset, bufio.NewReaderSize(f, 64<<10)
	}
	var out [][]byte // sized at the first record: most calls find none
	next := cur
	for len(out) < max {
		if limit >= 0 && next.Offset >= limit {
			break
		}
		kind, body, n, err := readFrame(rd.br, rd.buf)
		if err != nil {
			rd.close()
			if limit < 0 {
				// End (or a corrupt tail) of a closed segment: go on with the next.
				if len(out) == 0 {
					return nil, cursor{Segment: cur.Segment + 1}, nil
				}
				return out, next, nil
			}
			break
		}
		next.Offset += int64(n)
		rd.off = next.Offset
		if kind == kindRecord {
			if out == nil {
				out = make([][]byte, 0, min(max, 1024))
			}
			out = append(out, append([]byte(nil), body...))
		}
	}
	return out, next, nil
}
