package domain

import (
	"context"
	"database/sql"

	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// writeOp is the kind of write an event reports.
type writeOp int

const (
	opCreate writeOp = iota
	opUpdate
	opDelete
)

// eventTypes names, per resource, the event of each write ("" for none):
// the domain events of docs/events.md. Pointages report creation and
// validation only (opUpdate is checked in emit), signalements and
// documents creation only.
var eventTypes = map[string][3]string{
	"chantiers":    {events.ChantierCreated, events.ChantierUpdated, events.ChantierDeleted},
	"signalements": {events.SignalementCreated, "", ""},
	"pointages":    {events.PointageCreated, events.PointageValidated, ""},
	"affectations": {events.AffectationCreated, events.AffectationUpdated, events.AffectationDeleted},
	"documents":    {events.DocumentCreated, "", ""},
}

// emit appends the event of a write to the outbox inside tx, the write's
// own transaction. before is the row as read before the write (nil on
// create), after the row written (for a delete, only its id).
func (s *Service) emit(ctx context.Context, tx *sql.Tx, r *resource, o writeOp, before, after *record) error {
	typ := eventTypes[r.name][o]
	if typ == "" {
		return nil
	}
	if typ == events.PointageValidated && !(isTrue(after.vals["valide"]) && (before == nil || !isTrue(before.vals["valide"]))) {
		return nil // an update that does not validate reports nothing
	}
	var data any = after
	if o == opDelete {
		data = map[string]any{"id": after.id}
	}
	ev := events.New(typ, s.now(), events.ActorOf(httpx.IdentityOf(ctx)),
		events.Resource{Type: r.name, ID: events.IntID(after.id)}, data)
	return events.Append(ctx, s.db, tx, ev)
}

func isTrue(v any) bool { b, _ := v.(bool); return b }
