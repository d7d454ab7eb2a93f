package hubanomaly

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/modules/hub"
)

// Sink names (label values of hub_anomaly_events_dropped_total).
const (
	sinkUpstream = "upstream"
	sinkWebhook  = "webhook"
)

// Webhook headers. The signature covers "<timestamp>.<body>", so a receiver
// that checks the timestamp's freshness also refuses replays of old
// deliveries (the Stripe/Slack scheme; GitHub's signs the body alone).
const (
	HeaderSignature = "X-Hub-Signature"
	HeaderTimestamp = "X-Hub-Timestamp"
	HeaderEventID   = "X-Hub-Event-Id"
)

// Webhook configures the optional webhook.
type Webhook struct {
	// URL receives a POST per event (http or https). Empty: no webhook.
	// Placeholders such as {env.HUB_ANOMALY_WEBHOOK} are expanded.
	URL string `json:"url,omitempty"`
	// Secret keys the HMAC-SHA256 signature; required with URL.
	// Placeholders are expanded at load time, so {env.X} keeps the secret
	// out of the JSON config.
	Secret string `json:"secret,omitempty"`
	// Timeout bounds one delivery attempt. Default 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Retries is the number of attempts after the first. Default 3.
	Retries int `json:"retries,omitempty"`
}

// Event is one detection as it is sent to the upstream and the webhook
// (contract.AnomalyEvent), its details built as a map.
type Event = contract.AnomalyEvent[map[string]any]

// Sign returns the X-Hub-Signature value for body sent at ts (Unix
// seconds): "sha256=" + hex(HMAC-SHA256(secret, ts + "." + body)).
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// sink delivers events from a bounded queue on one goroutine, so a slow or
// dead receiver never delays a request: when the queue is full the event
// is dropped, counted and logged.
type sink struct {
	name     string
	queue    chan *Event
	deliver  func(ctx context.Context, body []byte, ev *Event) (retry bool, err error)
	attempts int
	timeout  time.Duration
	backoff  time.Duration
	log      *zap.Logger
	metrics  *metrics

	mu     sync.Mutex
	closed bool
	once   sync.Once
	done   chan struct{}
}

func newSink(name string, size, attempts int, timeout time.Duration, log *zap.Logger, m *metrics) *sink {
	return &sink{name: name, queue: make(chan *Event, size), attempts: attempts, timeout: timeout,
		backoff: 500 * time.Millisecond, log: log, metrics: m, done: make(chan struct{})}
}

// newUpstreamSink posts to the upstream's POST /internal/anomalies through
// the hub app's internal client (hub.App.Internal). The endpoint is
// idempotent by event id, so a retry after a lost answer is harmless; the
// sink's own attempts are the retries.
func newUpstreamSink(client *hub.InternalClient, size int, log *zap.Logger, m *metrics) *sink {
	s := newSink(sinkUpstream, size, 6, 5*time.Second, log, m)
	s.deliver = func(ctx context.Context, body []byte, _ *Event) (bool, error) {
		resp, err := client.Do(ctx, hub.InternalCall{Method: http.MethodPost, Path: contract.PathAnomalies, Body: body})
		return outcome(resp.Status, err)
	}
	return s
}

// newWebhookSink returns nil when the URL expands to nothing.
func newWebhookSink(w *Webhook, size int, log *zap.Logger, m *metrics) (*sink, error) {
	repl := caddy.NewReplacer()
	target := repl.ReplaceKnown(w.URL, "")
	if target == "" {
		return nil, nil
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hub_anomaly: webhook %q is not an http(s) URL", w.URL)
	}
	secret := []byte(repl.ReplaceKnown(w.Secret, ""))
	if len(secret) == 0 {
		return nil, errors.New("hub_anomaly: webhook needs a secret to sign its deliveries")
	}
	timeout := time.Duration(w.Timeout)
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	retries := w.Retries
	if retries <= 0 {
		retries = 3
	}
	s := newSink(sinkWebhook, size, retries+1, timeout, log, m)
	client := &http.Client{}
	s.deliver = func(ctx context.Context, body []byte, ev *Event) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return false, err
		}
		// Signed per attempt: the timestamp is the delivery's, not the event's.
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "hubgate-anomaly-webhook")
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderEventID, ev.EventID)
		req.Header.Set(HeaderSignature, Sign(secret, ts, body))
		return post(client, req)
	}
	return s, nil
}

// post sends req and judges the answer (outcome).
func post(c *http.Client, req *http.Request) (bool, error) {
	resp, err := c.Do(req)
	if err != nil {
		return outcome(0, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return outcome(resp.StatusCode, nil)
}

// outcome judges a delivery: 2xx is success, 5xx, 408, 429 and transport
// errors are worth retrying, other statuses are not.
func outcome(status int, err error) (retry bool, _ error) {
	switch {
	case err != nil:
		return true, err
	case status >= 200 && status < 300:
		return false, nil
	case status >= 500, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return true, fmt.Errorf("status %d", status)
	default:
		return false, fmt.Errorf("status %d", status)
	}
}

func (s *sink) start() { go s.run() }

// enqueue never blocks.
func (s *sink) enqueue(ev *Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.drop(ev, errors.New("handler unloaded"))
		return
	}
	select {
	case s.queue <- ev:
	default:
		s.drop(ev, errors.New("queue full"))
	}
}

func (s *sink) drop(ev *Event, err error) {
	s.metrics.dropped.WithLabelValues(s.name).Inc()
	s.log.Warn("anomaly event not delivered", zap.String("sink", s.name), zap.String("event_id", ev.EventID),
		zap.String("rule", ev.Rule), zap.Error(err))
}

// close stops accepting events; the worker delivers what is queued, then
// exits.
func (s *sink) close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
	})
}

func (s *sink) run() {
	defer close(s.done)
	for ev := range s.queue {
		body, err := json.Marshal(ev)
		if err != nil {
			s.drop(ev, err)
			continue
		}
		s.send(body, ev)
	}
}

// send tries up to attempts times with exponential backoff.
func (s *sink) send(body []byte, ev *Event) {
	wait := s.backoff
	var err error
	for i := 0; i < s.attempts; i++ {
		if i > 0 {
			time.Sleep(wait)
			wait = min(wait*2, 30*time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		var retry bool
		retry, err = s.deliver(ctx, body, ev)
		cancel()
		if err == nil {
			return
		}
		if !retry {
			break
		}
		s.log.Debug("anomaly event delivery failed, retrying", zap.String("sink", s.name),
			zap.String("event_id", ev.EventID), zap.Int("attempt", i+1), zap.Error(err))
	}
	s.drop(ev, err)
}
