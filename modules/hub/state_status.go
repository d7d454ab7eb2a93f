package hub

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Status learns the final status of a response for the handlers that
// observe outcomes (hub_metrics, hub_anomaly). The first of them on the
// request's path (the outermost) wraps the writer once, with a recorder
// that only remembers the status (bodies stream through, SSE included);
// the inner ones read that same recorder instead of adding their own.
type Status struct {
	w   http.ResponseWriter
	rec caddyhttp.ResponseRecorder
}

// TrackStatus returns the Status of the request: the recorder an outer hub
// handler installed (Writer is then w itself, unwrapped), else a new one
// around w, recorded in the request state for the inner handlers. Pass
// Writer() to next, then ask Final.
func TrackStatus(w http.ResponseWriter, r *http.Request) Status {
	s := stateOf(r, true)
	if s != nil && s.status != nil {
		return Status{w: w, rec: s.status}
	}
	// A nil buffer and a ShouldBuffer that says no: the recorder only
	// remembers the status, the body streams through.
	rec := caddyhttp.NewResponseRecorder(w, nil, neverBuffer)
	if s != nil {
		s.status = rec
	}
	return Status{w: rec, rec: rec}
}

func neverBuffer(int, http.Header) bool { return false }

// Writer is the writer to hand to the next handler.
func (s Status) Writer() http.ResponseWriter { return s.w }

// Final is the status the client gets once next returned err (StatusFor).
func (s Status) Final(err error) int { return StatusFor(s.rec.Status(), err) }

// StatusFor is the one rule for the status a client gets: the one written,
// else the error's (handle_errors answers after the handlers return; 500
// when the error has none, as Caddy's own metrics count it), else 200 when
// nothing was written (net/http sends 200).
func StatusFor(written int, err error) int {
	if err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode != 0 {
			return he.StatusCode
		}
		return http.StatusInternalServerError
	}
	if written == 0 {
		return http.StatusOK
	}
	return written
}
