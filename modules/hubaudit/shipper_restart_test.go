package hubaudit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/auditchain"
)

// stopAfter accepts its first n sends, then refuses every one.
type stopAfter struct {
	n    atomic.Int32
	into *fakeStore
}

func (s *stopAfter) Send(ctx context.Context, recs [][]byte) error {
	if s.n.Add(-1) < 0 {
		return errors.New("store down")
	}
	return s.into.Send(ctx, recs)
}

// TestShipperRestartMidSegment ships part of a rotated journal, stops in
// the middle of a segment, restarts, and checks that every record arrives
// exactly in chain order, nothing lost and at most one batch resent.
func TestShipperRestartMidSegment(t *testing.T) {
	for _, accepted := range []int32{1, 3, 5, 7} {
		dir := t.TempDir()
		j := openTest(t, dir, 2048) // a few records per segment
		for i := 0; i < 6; i++ {
			appendN(t, j, 5) // sequential groups: several rotations
		}
		store := &fakeStore{byID: map[string]auditchain.Record{}}
		sink := &stopAfter{into: store}
		sink.n.Store(accepted)
		s := NewShipper(j, 3, 0, zap.NewNop())
		s.sleep = func(ctx context.Context, _ time.Duration) bool { return ctx.Err() == nil }
		s.SetSink(sink)
		s.Start()
		waitFor(t, "first batches", func() bool { return store.count() == int(accepted)*3 })
		s.Stop()
		j.Close()

		j = openTest(t, dir, 2048)
		if got, want := j.Backlog(), int64(30-int(accepted)*3); got != want {
			t.Fatalf("accepted %d: backlog after restart %d, want %d", accepted, got, want)
		}
		appendN(t, j, 2)
		s = NewShipper(j, 3, 0, zap.NewNop())
		s.SetSink(store)
		s.Start()
		waitFor(t, "all shipped", func() bool { return store.count() == 32 && j.Backlog() == 0 })
		s.Stop()
		j.Close()
		if store.received != 32 {
			t.Fatalf("accepted %d: received %d records, want 32 (no resend after a clean stop)", accepted, store.received)
		}
		recs := make([]auditchain.Record, 0, 32)
		for _, id := range store.order {
			recs = append(recs, store.byID[id])
		}
		checkChain(t, recs)
	}
}
