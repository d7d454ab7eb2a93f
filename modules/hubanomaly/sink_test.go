package hubanomaly

import (
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/modules/hub"
)

func testEvent(id string) *Event {
	return &Event{EventID: id, DetectedAt: time.Unix(1_750_000_000, 0).UTC(), Rule: RuleScan,
		PrincipalKind: "api_key", PrincipalID: "k1", Details: map[string]any{"distinct_404_paths": 20}, GatewayID: "gw"}
}

func dropped(t *testing.T, sink string) float64 {
	t.Helper()
	var m dto.Metric
	if err := getMetrics().dropped.WithLabelValues(sink).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// wait receives from ch or fails after a generous deadline.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: nothing within 30 s", what)
	}
	var zero T
	return zero
}

func TestWebhookSignature(t *testing.T) {
	secret := "whsec-test-0123456789"
	type delivery struct {
		ok   bool
		ev   Event
		hdr  http.Header
		body []byte
	}
	got := make(chan delivery, 10)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// The receiver's check: HMAC-SHA256(secret, timestamp "." body),
		// and a fresh timestamp.
		ts := r.Header.Get(HeaderTimestamp)
		sec, err := strconv.ParseInt(ts, 10, 64)
		fresh := err == nil && time.Since(time.Unix(sec, 0)).Abs() < 5*time.Minute
		valid := hmac.Equal([]byte(r.Header.Get(HeaderSignature)), []byte(Sign([]byte(secret), ts, body)))
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway) // the first attempt fails: retried
			return
		}
		var ev Event
		_ = json.Unmarshal(body, &ev)
		got <- delivery{ok: fresh && valid, ev: ev, hdr: r.Header.Clone(), body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s, err := newWebhookSink(&Webhook{URL: srv.URL, Secret: secret, Retries: 2}, 8, zap.NewNop(), getMetrics())
	if err != nil || s == nil {
		t.Fatalf("newWebhookSink: %v %v", s, err)
	}
	s.backoff = time.Millisecond
	s.start()
	defer s.close()
	s.enqueue(testEvent("e-1"))
	d := wait(t, got, "webhook delivery")
	if !d.ok {
		t.Fatalf("signature or timestamp refused: %v", d.hdr)
	}
	if d.ev.EventID != "e-1" || d.ev.Rule != RuleScan || d.hdr.Get(HeaderEventID) != "e-1" || d.hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("delivery %+v", d)
	}
	// A tampered body does not verify.
	if Sign([]byte(secret), d.hdr.Get(HeaderTimestamp), append(d.body, ' ')) == d.hdr.Get(HeaderSignature) {
		t.Fatal("signature does not cover the body")
	}
	if Sign([]byte("other"), d.hdr.Get(HeaderTimestamp), d.body) == d.hdr.Get(HeaderSignature) {
		t.Fatal("signature does not depend on the secret")
	}
}

func TestSinkRetriesAreBounded(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		retries   int
		wantCalls int32
	}{
		{"5xx retried up to the limit", 503, 2, 3},
		{"4xx not retried", 400, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			s, err := newWebhookSink(&Webhook{URL: srv.URL, Secret: "s", Retries: tt.retries}, 8, zap.NewNop(), getMetrics())
			if err != nil {
				t.Fatal(err)
			}
			s.backoff = time.Millisecond
			before := dropped(t, sinkWebhook)
			s.start()
			s.enqueue(testEvent("e"))
			s.close()
			wait(t, s.done, "worker exit")
			if n := calls.Load(); n != tt.wantCalls {
				t.Fatalf("%d attempts, want %d", n, tt.wantCalls)
			}
			if d := dropped(t, sinkWebhook) - before; d != 1 {
				t.Fatalf("dropped grew by %v, want 1", d)
			}
		})
	}
}

func TestSinkNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	s, err := newWebhookSink(&Webhook{URL: srv.URL, Secret: "s", Timeout: 0}, 2, zap.NewNop(), getMetrics())
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	defer s.close()
	before := dropped(t, sinkWebhook)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 50; i++ {
			s.enqueue(testEvent(strconv.Itoa(i)))
		}
		close(done)
	}()
	wait(t, done, "50 enqueues with a stuck receiver")
	if d := dropped(t, sinkWebhook) - before; d < 47 {
		t.Fatalf("dropped grew by %v, want at least 47 (queue of 2, one in flight)", d)
	}
}

func TestUpstreamSink(t *testing.T) {
	type call struct {
		auth string
		ev   Event
	}
	got := make(chan call, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/internal/anomalies" {
			w.WriteHeader(404)
			return
		}
		var ev Event
		_ = json.NewDecoder(r.Body).Decode(&ev)
		got <- call{r.Header.Get("Authorization"), ev}
		w.WriteHeader(201)
	}))
	defer srv.Close()
	s := newUpstreamSink(hub.NewInternalClient(srv.URL, "shared-secret"), 8, zap.NewNop(), getMetrics())
	s.start()
	defer s.close()
	s.enqueue(testEvent("e-9"))
	c := wait(t, got, "upstream delivery")
	if c.auth != "Bearer shared-secret" || c.ev.EventID != "e-9" || c.ev.PrincipalID != "k1" || c.ev.Details["distinct_404_paths"] != float64(20) {
		t.Fatalf("call %+v", c)
	}
}

func TestWebhookConfig(t *testing.T) {
	tests := []struct {
		name    string
		wh      Webhook
		wantNil bool
		wantErr bool
	}{
		{"empty URL disables", Webhook{URL: "", Secret: "s"}, true, false},
		{"empty placeholder disables", Webhook{URL: "{env.HUB_TEST_UNSET_ANOMALY_HOOK}", Secret: "s"}, true, false},
		{"no secret", Webhook{URL: "https://hooks.example/a"}, false, true},
		{"not http", Webhook{URL: "ftp://x/y", Secret: "s"}, false, true},
		{"ok", Webhook{URL: "https://hooks.example/a", Secret: "s"}, false, false},
	}
	for _, tt := range tests {
		s, err := newWebhookSink(&tt.wh, 1, zap.NewNop(), getMetrics())
		if (err != nil) != tt.wantErr || (s == nil) != (tt.wantNil || tt.wantErr) {
			t.Errorf("%s: sink %v err %v", tt.name, s, err)
		}
	}
}
