package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/prometheus/client_golang/prometheus"
)

// InternalClient is the gateway's one HTTP client to the upstream's
// internal API (internal/contract): the resolver's introspection, JWKS,
// revocation feed and usage reports, hub_audit's shipper and hub_anomaly's
// upstream sink all go through it. It knows the base URL and the shared
// secret (sent as Authorization: Bearer), keeps one pool of connections,
// retries idempotent calls once after a transport error, and counts every
// attempt in hub_internal_requests_total{endpoint,outcome}.
//
// It lives with the pooled resolver (App.Internal): a config reload with
// the same upstream and secret keeps it and its connections. It starts no
// goroutine and needs no Close.
type InternalClient struct {
	base   string
	secret string
	http   *http.Client
	// retryAfter is the pause before the one retry of an idempotent call.
	retryAfter time.Duration
}

// NewInternalClient returns a client of the internal API at base (the
// upstream's URL, no trailing slash) authenticated with secret.
func NewInternalClient(base, secret string) *InternalClient {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	return &InternalClient{base: base, secret: secret, http: &http.Client{Transport: t}, retryAfter: 100 * time.Millisecond}
}

// InternalCall is one call to the upstream's internal API.
type InternalCall struct {
	// Method is the HTTP method.
	Method string
	// Path is one of the contract.Path* constants, plus a query if any. The
	// path (without the query) is the endpoint label of the metric, so it
	// must never hold an id.
	Path string
	// Body is sent as application/json: a []byte as it is (already JSON),
	// anything else marshalled. nil sends no body.
	Body any
	// Out, when set, receives the decoded JSON answer of a 2xx (at most 4 MiB).
	Out any
	// Timeout bounds the call, retry included; 0 leaves it to ctx.
	Timeout time.Duration
	// Idempotent allows one more attempt after a transport error (never
	// after an answer, whatever its status). Callers with a retry loop of
	// their own (the revocation feed, the audit shipper, the anomaly sink)
	// leave it false: one retry policy per call.
	Idempotent bool
}

// InternalResponse is the upstream's answer to an InternalCall.
type InternalResponse struct {
	// Status is the HTTP status code.
	Status int
	// Detail is the start (at most 512 bytes) of a non-2xx answer's body,
	// for logs and errors; nil after a 2xx.
	Detail []byte
}

// OK reports a 2xx answer.
func (r InternalResponse) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Do sends the call. A transport failure (or an undecodable 2xx body) is an
// error; any answer, whatever its status, is not.
func (c *InternalClient) Do(ctx context.Context, call InternalCall) (InternalResponse, error) {
	var body []byte
	switch b := call.Body.(type) {
	case nil:
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			return InternalResponse{}, err
		}
	}
	if call.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, call.Timeout)
		defer cancel()
	}
	endpoint := endpointLabel(call.Path)
	resp, err := c.attempt(ctx, call, body, endpoint)
	if err != nil && call.Idempotent && ctx.Err() == nil && !errors.Is(err, errDecode) {
		t := time.NewTimer(c.retryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, err
		case <-t.C:
		}
		resp, err = c.attempt(ctx, call, body, endpoint)
	}
	return resp, err
}

// errDecode marks an answer that came but could not be decoded: sending
// the call again would not help.
var errDecode = errors.New("undecodable answer")

func (c *InternalClient) attempt(ctx context.Context, call InternalCall, body []byte, endpoint string) (InternalResponse, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, call.Method, c.base+call.Path, rd)
	if err != nil {
		return InternalResponse{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.secret != "" {
		req.Header.Set("Authorization", contract.GatewayAuthorization(c.secret))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		internalCalls.WithLabelValues(endpoint, "error").Inc()
		return InternalResponse{}, err
	}
	defer resp.Body.Close()
	internalCalls.WithLabelValues(endpoint, strconv.Itoa(resp.StatusCode/100)+"xx").Inc()
	out := InternalResponse{Status: resp.StatusCode}
	switch {
	case !out.OK():
		out.Detail, _ = io.ReadAll(io.LimitReader(resp.Body, 512))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	case call.Out != nil:
		if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(call.Out); err != nil {
			return out, fmt.Errorf("decode %s: %w: %w", endpoint, errDecode, err)
		}
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	}
	return out, nil
}

// endpointLabel maps a call's path to a bounded label value: the contract
// path it names, or "other".
func endpointLabel(path string) string {
	p, _, _ := strings.Cut(path, "?")
	switch p {
	case contract.PathIntrospect, contract.PathRevocations, contract.PathUsage,
		contract.PathAudit, contract.PathAnomalies, contract.PathJWKS:
		return p
	}
	return "other"
}

// internalCalls counts the attempts of InternalClient by endpoint (a
// contract path or "other") and outcome (1xx to 5xx, or error when no
// answer came).
var internalCalls = NewCounterVec(prometheus.CounterOpts{
	Name: "hub_internal_requests_total",
	Help: "Calls from the gateway to the upstream's internal API, by endpoint and outcome (status class, or error).",
}, []string{"endpoint", "outcome"})

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}
