package hubetag

import (
	"bytes"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubchantier/hubgate/modules/hub"
)

// Outcomes, the values of the outcome label of hub_etag_responses_total.
const (
	outcomeComputed           = "computed"            // tag computed from the bytes sent
	outcomeUpstream           = "upstream"            // the upstream's tag kept (body untouched)
	outcomeNotModified        = "not_modified"        // 304
	outcomePreconditionFailed = "precondition_failed" // 412 decided by the gateway (GET/HEAD)
	outcomeTooLarge           = "too_large"           // body over max_size: sent without a tag
	outcomePassthrough        = "passthrough"         // not a taggable response
)

// responses is hub_etag_responses_total, one per process (hub.NewCounterVec)
// so that its values survive config reloads (registered into each config's
// registry by Provision).
var responses = hub.NewCounterVec(prometheus.CounterOpts{
	Name: "hub_etag_responses_total",
	Help: "Responses seen by hub_etag, by outcome (computed, upstream, not_modified, precondition_failed, too_large, passthrough).",
}, []string{"outcome"})

// collectors returns the module's collectors.
func collectors() *prometheus.CounterVec { return responses }

// count adds one response of outcome o.
func (h *Handler) count(o string) {
	if h.responses != nil {
		h.responses.WithLabelValues(o).Inc()
	}
}

// bufPool holds response buffers; buffers grown past maxPooled are not kept
// so one large body does not pin memory.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooled = 256 << 10

func getBuffer() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooled {
		return
	}
	b.Reset()
	bufPool.Put(b)
}
