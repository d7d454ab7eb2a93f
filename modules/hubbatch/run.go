package hubbatch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

// result is one entry of the answer's results, in the operations' order.
type result struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`

	// doc is the result as references see it (decoded once).
	doc any
}

// ok reports whether later operations may use the result.
func (res *result) ok() bool { return res.Status >= 200 && res.Status < 400 }

// batchRun is one batch in progress.
type batchRun struct {
	h       *Handler
	parent  *http.Request
	srv     *caddyhttp.Server
	prefix  string
	ops     []operation
	link    hub.BatchLink // the fields every operation's link shares
	results []*result
	ctx     context.Context
	expired atomic.Bool // the deadline passed
}

// run executes the batch and returns its results, one per operation.
func (h *Handler) run(r *http.Request, srv *caddyhttp.Server, prefix string, b *batchBody) []*result {
	// The deadline cancels the operations still running rather than
	// letting their context expire: reverse_proxy counts an expired
	// context against the upstream's health (a failure of the upstream),
	// a cancelled one as the client's (499). The batch's deadline is
	// neither, and its operations get 504 from here.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	br := &batchRun{
		h: h, parent: r, srv: srv, prefix: prefix, ops: b.Operations, ctx: ctx,
		link:    hub.BatchLink{RequestID: hub.RequestID(r), Identity: hub.IdentityOf(r)},
		results: make([]*result, len(b.Operations)),
	}
	timer := time.AfterFunc(time.Duration(h.Timeout), func() {
		br.expired.Store(true)
		cancel()
	})
	defer timer.Stop()
	switch {
	case b.Atomic:
		br.atomic()
	case b.Parallel:
		br.parallel()
	default:
		for i := range br.ops {
			br.results[i] = br.one(i, "")
		}
	}
	for i, res := range br.results {
		if res == nil { // never started: the deadline passed
			br.results[i] = deadlineResult()
		}
		h.metrics.operations.WithLabelValues(outcome(br.results[i].Status)).Inc()
	}
	return br.results
}

// parallel runs every operation in its own goroutine, at most Parallelism
// at once; an operation with references first waits for the operations
// it refers to (always earlier ones, so there is no cycle).
func (br *batchRun) parallel() {
	sem := make(chan struct{}, br.h.Parallelism)
	done := make([]chan struct{}, len(br.ops))
	for i := range done {
		done[i] = make(chan struct{})
	}
	for i := range br.ops {
		go func() {
			defer close(done[i])
			for _, d := range br.ops[i].refs {
				select {
				case <-done[d]:
				case <-br.ctx.Done():
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-br.ctx.Done():
				return
			}
			defer func() { <-sem }()
			br.results[i] = br.one(i, "")
		}()
	}
	for _, d := range done {
		<-d
	}
}

// one runs operation i (inside upstream transaction tx when not ""),
// resolving its references first. Results of
// earlier operations it refers to are complete (sequential order, or
// waited for in parallel mode).
func (br *batchRun) one(i int, tx string) *result {
	if br.ctx.Err() != nil {
		return deadlineResult()
	}
	op := &br.ops[i]
	docs := make([]any, i)
	for _, d := range op.refs {
		dep := br.results[d]
		if dep == nil || !dep.ok() {
			return problemResult(problem.New(http.StatusFailedDependency, "failed-dependency", "Failed Dependency",
				fmt.Sprintf("operation %d refers to operation %d, which failed", i, d)).With("operation", d))
		}
		docs[d] = dep.doc
	}
	target, err := resolvePath(op.Path, docs)
	if err == nil {
		if msg := cleanPath(target); msg != "" {
			err = &errUnresolved{"path", msg}
		}
	}
	headers := make(map[string]string, len(op.Headers))
	for name, v := range op.Headers {
		if err == nil {
			headers[name], err = substitute(v, docs, func(s string) string { return s })
			if strings.ContainsAny(headers[name], "\r\n\x00") {
				err = &errUnresolved{name, "a header value with a control character"}
			}
		}
	}
	body := []byte(op.Body)
	if err == nil && len(op.refs) > 0 && len(body) > 0 {
		body, err = resolveBody(body, docs)
	}
	if err != nil {
		return problemResult(problem.New(http.StatusUnprocessableEntity, "unresolved-reference", "Unresolved reference", err.Error()))
	}
	return br.send(i, op.Method, br.prefix+target, headers, body, tx)
}

// send runs one sub-request through the server and records its answer.
func (br *batchRun) send(i int, method, target string, headers map[string]string, body []byte, tx string) *result {
	link := br.link
	link.Index, link.Tx = i, tx
	ctx := hub.WithBatch(br.ctx, &link)
	var rd *bytes.Reader
	if len(body) > 0 && string(body) != "null" {
		rd = bytes.NewReader(body)
	} else {
		body = nil
	}
	var sub *http.Request
	var err error
	if rd != nil {
		sub, err = http.NewRequestWithContext(ctx, method, target, rd)
	} else {
		sub, err = http.NewRequestWithContext(ctx, method, target, http.NoBody)
	}
	if err != nil {
		return problemResult(problem.New(http.StatusUnprocessableEntity, "unresolved-reference", "Invalid operation", "the operation's path is not a URL path"))
	}
	p := br.parent
	// The caller's connection facts: the IP allowlists, the client network
	// of rate limits and the audit's IP are the batch caller's.
	sub.RemoteAddr, sub.Host, sub.TLS = p.RemoteAddr, p.Host, p.TLS
	sub.Proto, sub.ProtoMajor, sub.ProtoMinor = p.Proto, p.ProtoMajor, p.ProtoMinor
	sub.RequestURI = target
	sub.ContentLength = int64(len(body))
	if ua := p.Header.Get("User-Agent"); ua != "" {
		sub.Header.Set("User-Agent", ua)
	}
	sub.Header.Set("Accept", "application/json")
	if body != nil {
		sub.Header.Set("Content-Type", "application/json")
	}
	for name, v := range headers {
		sub.Header.Set(name, v)
	}
	rec := newRecorder(br.h.MaxResultSize)
	br.serve(rec, sub)
	if br.expired.Load() && (rec.status == 0 || rec.status == 499) {
		return deadlineResult() // cut short by the deadline
	}
	return rec.result()
}

// serve runs the sub-request through the whole server. A panic in a
// handler (reverse_proxy aborts with http.ErrAbortHandler when the
// upstream's body breaks) is that operation's 502, not the batch's end.
func (br *batchRun) serve(rec *recorder, sub *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			rec.abort()
		}
	}()
	br.srv.ServeHTTP(rec, sub)
}

// writeResults sends the batch's answer.
func writeResults(w http.ResponseWriter, results []*result) error {
	out, err := json.Marshal(struct {
		Results []*result `json:"results"`
	}{results})
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("hub_batch: encoding results: %w", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(out)
	return err
}

// problemResult is an operation's result made by hub_batch itself.
func problemResult(p *problem.Problem) *result {
	b, _ := json.Marshal(p)
	res := &result{Status: p.Status, Headers: map[string]string{"Content-Type": problem.ContentType}, Body: b}
	res.doc = map[string]any{"status": float64(p.Status)}
	return res
}

// deadlineResult is the result of an operation the deadline left unrun.
func deadlineResult() *result {
	return problemResult(problem.New(http.StatusGatewayTimeout, "batch-deadline", "Batch deadline exceeded",
		"the batch's deadline passed before this operation completed"))
}

// outcome is an operation's status class, the label of hub_batch_operations_total.
func outcome(status int) string {
	switch {
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	}
	return "2xx"
}
