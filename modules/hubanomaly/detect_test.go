package hubanomaly

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hubchantier/hubgate/modules/hub"
)

// steady sends perMinute requests a minute, evenly spaced, for d; q(i)
// describes request i.
func steady(t *testing.T, h *Handler, c *clock, perMinute int, d time.Duration, q func(i int) req) {
	t.Helper()
	step := time.Minute / time.Duration(perMinute)
	for i := 0; time.Duration(i)*step < d; i++ {
		serve(t, h, q(i))
		c.Add(step)
	}
}

// alignMinute moves c to the start of the next minute.
func alignMinute(c *clock) {
	c.Add(time.Minute - time.Duration(c.Now().UnixNano()%int64(time.Minute)))
}

func TestRules(t *testing.T) {
	key := keyID("k1")
	ok := func(int) req { return req{id: key, ua: "erp-connector/2.1"} }
	tests := []struct {
		name  string
		h     Handler
		drive func(t *testing.T, h *Handler, c *clock)
		want  []string
	}{
		{"steady 10/min of 200s for 3h", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 10, 3*time.Hour, ok)
		}, nil},
		{"steady mixed traffic for 3h: some 404s on 5 paths, 2 user agents", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 10, 3*time.Hour, func(i int) req {
				q := req{id: key, ua: []string{"erp/1", "erp/2"}[i%2]}
				if i%10 == 0 {
					q.path, q.status = fmt.Sprintf("/api/v1/chantiers/%d", i%5), 404
				}
				return q
			})
		}, nil},
		{"4xx above half with enough volume", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 10, 6*time.Minute, func(i int) req {
				q := ok(i)
				if i%3 != 0 {
					q.status = http.StatusBadRequest
				}
				return q
			})
		}, []string{RuleErrorRate}},
		{"4xx above half below the minimum volume", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 10, 4*time.Minute, func(i int) req {
				return req{id: key, status: http.StatusForbidden}
			})
		}, nil},
		{"4xx at 40%", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 10, 2*time.Hour, func(i int) req {
				q := ok(i)
				if i%5 < 2 {
					q.status = http.StatusConflict
				}
				return q
			})
		}, nil},
		{"4xx bursts that never share a window", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			for round := 0; round < 3; round++ {
				steady(t, h, c, 10, 4*time.Minute, func(int) req { return req{id: key, status: 400} })
				c.Add(90 * time.Minute)
			}
		}, nil},
		{"spike against an established baseline", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 10, time.Hour, ok)
			alignMinute(c)
			steady(t, h, c, 150, time.Minute, ok)
		}, []string{RuleSpike}},
		{"burst below factor × baseline + floor", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 10, time.Hour, ok)
			alignMinute(c)
			steady(t, h, c, 100, time.Minute, ok)
			steady(t, h, c, 10, time.Hour, ok)
		}, nil},
		{"burst during warm-up", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 300, time.Minute, ok)
			steady(t, h, c, 10, time.Hour, ok)
		}, nil},
		{"gradual growth from 10 to 60 a minute over 3h", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			for m := 0; m < 180; m++ {
				steady(t, h, c, 10+m*50/180, time.Minute, ok)
			}
		}, nil},
		{"idle night then the usual morning rate", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 30, time.Hour, ok)
			c.Add(10 * time.Hour)
			steady(t, h, c, 30, time.Hour, ok)
		}, nil},
		{"scanning 30 distinct 404 paths", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			for i := 0; i < 30; i++ {
				serve(t, h, req{id: key, path: fmt.Sprintf("/api/v1/chantiers/%d", 1000+i), status: 404})
				c.Add(time.Second)
			}
		}, []string{RuleScan}},
		{"the same 404 path over and over", Handler{ErrorRate: &ErrorRateRule{Off: true}}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 30, 10*time.Minute, func(int) req { return req{id: key, path: "/api/v1/missing", status: 404} })
		}, nil},
		{"one new 404 path a minute for 3h", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 10, 3*time.Hour, func(i int) req {
				q := ok(i)
				if i%10 == 0 {
					q.path, q.status = fmt.Sprintf("/api/v1/documents/%d", i), 404
				}
				return q
			})
		}, nil},
		{"scanning for 25 minutes fires once per cooldown", Handler{ErrorRate: &ErrorRateRule{Off: true}}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 20, 25*time.Minute, func(i int) req {
				return req{id: key, path: fmt.Sprintf("/wp-admin/%d.php", i), status: 404}
			})
		}, []string{RuleScan, RuleScan, RuleScan}},
		{"user agent rotation", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 10, 2*time.Minute, func(i int) req { return req{id: key, ua: fmt.Sprintf("Mozilla/5.0 (X11; rv:%d)", 100+i)} })
		}, []string{RuleUserAgents}},
		{"nine user agents in an hour", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 10, 3*time.Hour, func(i int) req { return req{id: key, ua: fmt.Sprintf("app/%d", (i/200)%9)} })
		}, nil},
		{"user agent per request, but only one new one every 8 minutes", Handler{}, func(t *testing.T, h *Handler, c *clock) {
			steady(t, h, c, 10, 3*time.Hour, func(i int) req { return req{id: key, ua: fmt.Sprintf("app/%d", i/80)} })
		}, nil},
		{"rules turned off", Handler{Scan: &DistinctRule{Off: true}, UserAgents: &DistinctRule{Off: true}, ErrorRate: &ErrorRateRule{Off: true}}, func(t *testing.T, h *Handler, c *clock) {
			for i := 0; i < 100; i++ {
				serve(t, h, req{id: key, ua: fmt.Sprint(i), path: fmt.Sprintf("/x/%d", i), status: 404})
			}
		}, nil},
		{"thresholds from the config", Handler{Scan: &DistinctRule{Distinct: 5, Window: caddy.Duration(time.Minute)}}, func(t *testing.T, h *Handler, c *clock) {
			for i := 0; i < 5; i++ {
				serve(t, h, req{id: key, path: fmt.Sprintf("/x/%d", i), status: 404})
			}
		}, []string{RuleScan}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			h := tt.h
			newHandler(t, &h, c, newFakeStore(c.Now))
			tt.drive(t, &h, c)
			got := rules(events(&h))
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("detections = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEvent(t *testing.T) {
	c := newClock()
	h := newHandler(t, &Handler{}, c, newFakeStore(c.Now))
	before := counter(t, RuleScan)
	for i := 0; i < 20; i++ {
		serve(t, h, req{ip: "203.0.113.9", id: &hub.Identity{Method: "anonymous"}, path: fmt.Sprintf("/.env%d", i), status: 404})
	}
	evs := events(h)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	ev := evs[0]
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(ev.EventID) {
		t.Errorf("event id %q is not a v4 UUID", ev.EventID)
	}
	if ev.Rule != RuleScan || ev.PrincipalKind != "ip" || ev.PrincipalID != "203.0.113.9" || ev.GatewayID != "gw-test" || !ev.DetectedAt.Equal(c.Now()) {
		t.Errorf("event = %+v", ev)
	}
	if ev.Details["distinct_404_paths"] != 20 || ev.Details["threshold"] != 20 || ev.Details["action"] != nil {
		t.Errorf("details = %v", ev.Details)
	}
	for k, v := range ev.Details {
		if s, ok := v.(string); ok && regexp.MustCompile(`\.env`).MatchString(s) {
			t.Errorf("details[%s] = %q holds a raw path", k, s)
		}
	}
	if got := counter(t, RuleScan) - before; got != 1 {
		t.Errorf("hub_anomalies_total{rule=scan} grew by %v, want 1", got)
	}
}

func TestPrincipalPrecedence(t *testing.T) {
	tests := []struct {
		id       *hub.Identity
		kind, pk string
	}{
		{&hub.Identity{Subject: "7", Method: "api_key", KeyID: "abc", ClientID: "x"}, "api_key", "k:abc"},
		{&hub.Identity{Subject: "7", Method: "oauth2", ClientID: "cli"}, "oauth_client", "c:cli:u:7"},
		{&hub.Identity{Subject: "7", Method: "jwt"}, "user", "u:7"},
		{&hub.Identity{Method: "anonymous"}, "ip", "ip:10.0.0.1"},
		{nil, "ip", "ip:10.0.0.1"},
		{&hub.Identity{Method: "api_key", KeyID: "{tag}"}, "api_key", "k:h"},
	}
	for _, tt := range tests {
		c := newClock()
		h := newHandler(t, &Handler{Scan: &DistinctRule{Distinct: 2}}, c, newFakeStore(c.Now))
		serve(t, h, req{id: tt.id, path: "/a", status: 404})
		serve(t, h, req{id: tt.id, path: "/b", status: 404})
		evs := events(h)
		if len(evs) != 1 || evs[0].PrincipalKind != tt.kind {
			t.Fatalf("%+v: events %+v, want one of kind %s", tt.id, evs, tt.kind)
		}
		p := hub.PrincipalOf(requestWith(tt.id), 0)
		if p.Key != tt.pk && !(tt.pk == "k:h" && len(p.Key) == 2+1+32) {
			t.Errorf("%+v: key %q, want %q", tt.id, p.Key, tt.pk)
		}
	}
}
