package hubaudit

import (
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
// Hash), queues its frame for the active segment and returns a function
// that blocks until the record is written and fsync'd (or either failed).
// Records are chained in the order Append is called.
//
// Append does no I/O in the common case: the frame is encoded (once,
// auditchain.Record.AppendSealed) into the journal's pending buffer, and
// the syncer writes everything pending with one write and one fsync per
// round (group commit, issue 12). Only a rotation writes here.
func (j *Journal) Append(rec *auditchain.Record) (wait func() error, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for {
		if j.closed {
			return nil, ErrClosed
		}
		if j.broken != nil {
			return nil, j.broken
		}
		rec.GatewayID, rec.Seq = j.gatewayID, j.nextSeq
		rec.Normalize()
		start := len(j.pending)
		j.pending = append(j.pending, 0, 0, 0, 0, 0, 0, 0, 0, kindRecord)
		j.pending, err = rec.AppendSealed(j.pending, j.head)
		if err != nil {
			j.pending = j.pending[:start]
			return nil, fmt.Errorf("encode audit record: %w", err)
		}
		size := int64(len(j.pending) - start)
		if size-frameHeaderLen > maxFrame {
			j.pending = j.pending[:start]
			return nil, fmt.Errorf("encode audit record: %d bytes, more than a frame holds", size)
		}
		if j.fsize+size > j.segmentSize && j.fsize > frameHeaderLen+256 {
			// The record starts the next segment. The syncer must not be
			// writing the active one meanwhile: wait for its round, then
			// seal again (another record may have taken this seq).
			j.pending = j.pending[:start]
			if j.inflight {
				j.idle.Wait()
				continue
			}
			if err := j.rotate(); err != nil {
				return nil, err
			}
			continue
		}
		sealFrame(j.pending[start:])
		j.fsize += size
		if j.fsize > j.alloc {
			j.diskBytes += j.fsize - j.alloc
			j.alloc = j.fsize
		}
		j.head, j.nextSeq = rec.Hash, j.nextSeq+1
		j.backlog.Add(1)
		rd := j.round
		if !j.dirty {
			j.dirty = true
			j.cond.Signal()
		}
		return func() error { <-rd.done; return rd.err }, nil
	}
}

// rotate writes what is pending to the active segment, fsyncs it (so
// every record in it is durable whatever the syncer does next) and starts
// the next segment. Called under j.mu while the syncer is idle. The old
// file is closed by the syncer. A failed write or fsync here loses records
// already chained: the journal refuses everything from then on, and the
// round waiting for them fails (syncer).
func (j *Journal) rotate() error {
	if len(j.pending) > 0 {
		if _, err := j.f.Write(j.pending); err != nil {
			j.breakWith(fmt.Errorf("audit journal write failed: %w", err))
			return j.broken
		}
		j.pending = j.pending[:0]
	}
	if err := j.f.Sync(); err != nil {
		j.breakWith(fmt.Errorf("audit journal fsync failed: %w", err))
		return j.broken
	}
	old := j.f
	if err := j.openSegment(j.fseq + 1); err != nil {
		// Nothing lost (the active segment is whole and durable): this
		// record is refused and the next one tries again (a full disk
		// may have room by then).
		return err
	}
	j.retired = append(j.retired, old)
	return nil
}

// breakWith refuses every later record until a restart recovers the
// journal: after a failed write the file may hold part of a chained
// record, and after a failed fsync the kernel may have dropped the dirty
// pages and cleared the error, so a later fsync that succeeds proves
// nothing about them.
func (j *Journal) breakWith(err error) {
	if j.broken == nil {
		j.log.Error("audit journal failed: refusing every request until the gateway restarts", zap.Error(err))
		j.broken = err
	}
}

// syncer is the group-commit loop: each round takes every frame queued
// since the previous round, writes them with one write, fsyncs once and
// releases their waiters.
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
		buf := j.pending
		j.pending, j.spareBuf = j.spareBuf[:0], nil
		j.round, j.dirty, j.inflight = newRound(), false, true
		j.mu.Unlock()

		var err error
		if len(buf) > 0 {
			if _, err = f.Write(buf); err != nil {
				err = fmt.Errorf("audit journal write failed: %w", err)
			}
		}
		if err == nil {
			if err = f.Sync(); err != nil {
				err = fmt.Errorf("audit journal fsync failed: %w", err)
			}
		}
		j.mu.Lock()
		j.inflight = false
		j.idle.Broadcast()
		if cap(buf) <= maxPendingKept {
			j.spareBuf = buf[:0]
		}
		if err != nil {
			j.breakWith(err)
		} else if j.broken != nil {
			// A rotation failed to write or fsync records of this round.
			err = j.broken
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

// maxPendingKept bounds the pending buffer kept for the next round.
const maxPendingKept = 1 << 20

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
	j.dropSpare()
	err := j.trimActive()
	if serr := j.f.Sync(); err == nil {
		err = serr
	}
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

// Err is the failure that stopped the journal (a write or an fsync), or
// nil while it acknowledges records.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.broken
}
