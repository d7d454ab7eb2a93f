package hubaudit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/auditchain"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit journal closed")

// Append seals rec into the chain (it sets GatewayID, Seq, PrevHash and
// Hash), writes it to the active segment and returns a function that
// blocks until the record is fsync'd (or the fsync failed). Records are
// chained in the order Append is called.
func (j *Journal) Append(rec *auditchain.Record) (wait func() error, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, ErrClosed
	}
	if j.broken != nil {
		return nil, j.broken
	}
	rec.GatewayID, rec.Seq = j.gatewayID, j.nextSeq
	rec.Normalize()
	if err := rec.Seal(j.head); err != nil {
		return nil, err
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode audit record: %w", err)
	}
	j.buf = appendFrame(j.buf[:0], kindRecord, body)
	if j.fsize+int64(len(j.buf)) > j.segmentSize && j.fsize > frameHeaderLen+256 {
		if err := j.rotate(); err != nil {
			return nil, err
		}
	}
	n, err := j.f.Write(j.buf)
	if err != nil {
		// Undo a partial write so the next record does not follow garbage;
		// if even that fails, refuse every later record (recovery at the
		// next start will cut the torn frame).
		if n > 0 {
			if terr := j.f.Truncate(j.fsize); terr != nil {
				j.broken = fmt.Errorf("audit journal unusable after a failed write: %w", err)
			}
		}
		return nil, fmt.Errorf("write audit record: %w", err)
	}
	j.fsize += int64(n)
	j.diskBytes += int64(n)
	j.head, j.nextSeq = rec.Hash, j.nextSeq+1
	j.backlog.Add(1)
	rd := j.round
	if !j.dirty {
		j.dirty = true
		j.cond.Signal()
	}
	return func() error { <-rd.done; return rd.err }, nil
}

// rotate closes the active segment (after an fsync, so every record in it
// is durable whatever the syncer is doing) and starts the next one. The
// old file is closed by the syncer, which may still be fsyncing it.
func (j *Journal) rotate() error {
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync audit segment: %w", err)
	}
	old := j.f
	if err := j.openSegment(j.fseq + 1); err != nil {
		return err
	}
	j.retired = append(j.retired, old)
	return nil
}

// syncer is the group-commit loop: each round takes every record written
// since the previous round, fsyncs once and releases their waiters.
func (j *Journal) syncer() {
	defer close(j.syncDone)
	for {
		j.mu.Lock()
		for !j.dirty && !j.closed {
			j.cond.Wait()
		}
		if !j.dirty && j.closed {
			j.mu.Unlock()
			return
		}
		for _, f := range j.retired {
			_ = f.Close()
		}
		j.retired = nil
		rd, f, seg, size := j.round, j.f, j.fseq, j.fsize
		j.round, j.dirty = newRound(), false
		j.mu.Unlock()

		err := f.Sync()
		j.mu.Lock()
		if err != nil {
			// After a failed fsync the kernel may have dropped the dirty
			// pages and cleared the error: a later fsync that succeeds
			// proves nothing about these records. Nothing more is
			// acknowledged until a restart recovers the journal.
			j.log.Error("audit journal fsync failed: refusing every request until the gateway restarts", zap.Error(err))
			if j.broken == nil {
				j.broken = fmt.Errorf("audit journal fsync failed earlier: %w", err)
			}
		}
		if err == nil && seg == j.fseq && size > j.durable {
			j.durable = size
		}
		j.mu.Unlock()
		rd.err = err
		close(rd.done)
		select {
		case j.notify <- struct{}{}:
		default:
		}
	}
}

// limit returns how far the shipper may read segment seg: up to what is
// fsync'd in the active segment, everything in older ones (-1).
func (j *Journal) limit(seg uint64) (limit int64, active uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if seg == j.fseq {
		return j.durable, j.fseq
	}
	return -1, j.fseq
}

// removeBefore deletes the segments older than seg (all shipped), never
// the active one.
func (j *Journal) removeBefore(seg uint64) {
	segs, err := j.segments()
	if err != nil {
		return
	}
	removed := false
	for _, s := range segs {
		j.mu.Lock()
		active := j.fseq
		j.mu.Unlock()
		if s >= seg || s >= active {
			break
		}
		path := filepath.Join(j.dir, segName(s))
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		if err := os.Remove(path); err != nil {
			j.log.Warn("audit journal: could not delete a shipped segment", zap.String("segment", path), zap.Error(err))
			continue
		}
		removed = true
		j.mu.Lock()
		j.diskBytes -= fi.Size()
		j.mu.Unlock()
	}
	if removed {
		_ = syncDir(j.dir)
	}
}

// Close waits for the last fsync, closes the files and releases the
// directory lock.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.cond.Broadcast()
	j.mu.Unlock()
	<-j.syncDone
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, f := range j.retired {
		_ = f.Close()
	}
	err := j.f.Sync()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	// The chain head, logged outside the audit store: compare with
	// `hubchantier audit verify --expect <gateway_id>:<seq>`.
	j.log.Info("audit journal closed", zap.String("gateway_id", j.gatewayID),
		zap.Int64("head_seq", j.nextSeq-1), zap.String("head_hash", j.head))
	j.unlock()
	return err
}
