// Package slack is the Slack connector (docs/connectors.md, "Slack"): it
// posts Block Kit messages to a channel, through an incoming webhook
// (https://api.slack.com/messaging/webhooks) or the Web API's
// chat.postMessage with a bot token
// (https://api.slack.com/methods/chat.postMessage), and verifies Slack's
// Events API requests with the signing secret
// (https://api.slack.com/authentication/verifying-requests-from-slack).
//
//   - chantier.created → "Nouveau chantier X";
//   - signalement.created with urgent = true → an <!channel> alert
//     (non-urgent ones are ignored);
//   - api_key.rotated and api_key.expiring → a notice to the key owner's
//     channel (only the owner's connectors receive them);
//   - the weekly job (Monday 00:00) → a summary of the previous ISO week's
//     pointages per chantier.
//
// Slack's published limits: about one message per second per incoming
// webhook or channel, with short bursts tolerated; a 429 carries
// Retry-After, which is honoured.
package slack

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
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/hubchantier/hubgate/upstream/connectors"
	"github.com/hubchantier/hubgate/upstream/events"
)

// DefaultAPIURL is the Web API's base.
const DefaultAPIURL = "https://slack.com/api"

// Type is the Slack connector type. Configuration:
//
//	webhook_url     incoming webhook URL (secret)          — or —
//	bot_token       xoxb- bot token (secret) + channel     (chat.postMessage)
//	channel         channel id or name for the bot token
//	api_url         Web API base (default https://slack.com/api; stand-ins)
//	signing_secret  Events API signing secret (secret), for inbound events
var Type = connectors.Type{
	Name:     "slack",
	Secrets:  []string{"webhook_url", "bot_token", "signing_secret"},
	Events:   []string{events.ChantierCreated, events.SignalementCreated, events.APIKeyRotated, events.APIKeyExpiring},
	Jobs:     []string{connectors.JobWeekly, connectors.JobManual},
	Rate:     rate.Limit(1),
	Burst:    3,
	Validate: connectors.ValidateWith(parse),
	New: connectors.NewWith(parse, func(c *Connector, env connectors.Env) error {
		c.env = env
		return nil
	}),
}

// Connector posts to one Slack channel.
type Connector struct {
	webhookURL, botToken, channel, apiURL, signingSecret string
	env                                                  connectors.Env
}

func parse(cfg map[string]any, env connectors.Env) (*Connector, error) {
	for k, v := range cfg {
		switch k {
		case "webhook_url", "bot_token", "channel", "api_url", "signing_secret":
			if _, ok := v.(string); !ok {
				return nil, fmt.Errorf("%s must be a string", k)
			}
		default:
			return nil, fmt.Errorf("unknown field %q (webhook_url, bot_token, channel, api_url, signing_secret)", k)
		}
	}
	c := &Connector{webhookURL: connectors.String(cfg, "webhook_url"), botToken: connectors.String(cfg, "bot_token"),
		channel: connectors.String(cfg, "channel"), apiURL: connectors.String(cfg, "api_url"),
		signingSecret: connectors.String(cfg, "signing_secret")}
	switch {
	case c.webhookURL != "" && c.botToken != "":
		return nil, errors.New("give either webhook_url or bot_token + channel, not both")
	case c.webhookURL != "":
		if err := connectors.CheckURL("webhook_url", c.webhookURL, env); err != nil {
			return nil, err
		}
	case c.botToken != "":
		if c.channel == "" {
			return nil, errors.New("channel is required with bot_token")
		}
	default:
		return nil, errors.New("webhook_url, or bot_token and channel, is required")
	}
	if c.apiURL == "" {
		c.apiURL = DefaultAPIURL
	} else if err := connectors.CheckURL("api_url", c.apiURL, env); err != nil {
		return nil, err
	}
	c.apiURL = strings.TrimRight(c.apiURL, "/")
	return c, nil
}

// Message is a Slack message: text (the notification fallback) and Block
// Kit blocks (https://api.slack.com/block-kit).
type Message struct {
	Channel string  `json:"channel,omitempty"`
	Text    string  `json:"text"`
	Blocks  []Block `json:"blocks,omitempty"`
}

// Block is a Block Kit block (section, header, context, divider).
type Block struct {
	Type     string `json:"type"`
	Text     *Text  `json:"text,omitempty"`
	Elements []Text `json:"elements,omitempty"`
	Fields   []Text `json:"fields,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type string `json:"type"` // mrkdwn or plain_text
	Text string `json:"text"`
}

func md(s string) *Text { return &Text{Type: "mrkdwn", Text: s} }

// escape escapes &, < and > as Slack's mrkdwn requires
// (https://api.slack.com/reference/surfaces/formatting#escaping), so user
// text never forms a mention or a link.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// HandleEvent implements connectors.Connector.
func (c *Connector) HandleEvent(ctx context.Context, ev events.Stored) error {
	m, ok, err := MessageFor(ev)
	if err != nil || !ok {
		return err
	}
	return c.post(ctx, m)
}

// MessageFor is the message an event becomes; ok is false for events the
// connector ignores (a signalement that is not urgent).
func MessageFor(ev events.Stored) (Message, bool, error) {
	var env struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(ev.Payload, &env); err != nil {
		return Message{}, false, connectors.Permanent("event %s: payload is not JSON", ev.ID)
	}
	d := env.Data
	str := func(k string) string {
		if v, ok := d[k].(string); ok {
			return v
		}
		if v, ok := d[k].(float64); ok {
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return ""
	}
	switch ev.Type {
	case events.ChantierCreated:
		nom := escape(str("nom"))
		text := "Nouveau chantier " + nom
		blocks := []Block{{Type: "section", Text: md(":building_construction: *Nouveau chantier* : " + nom)}}
		var fields []Text
		if a := str("adresse"); a != "" {
			fields = append(fields, *md("*Adresse*\n" + escape(a)))
		}
		if cl := str("client"); cl != "" {
			fields = append(fields, *md("*Client*\n" + escape(cl)))
		}
		if dd := str("date_debut"); dd != "" {
			fields = append(fields, *md("*Début*\n" + escape(dd)))
		}
		if len(fields) > 0 {
			blocks = append(blocks, Block{Type: "section", Fields: fields})
		}
		blocks = append(blocks, Block{Type: "context", Elements: []Text{*md("Hub Chantier · chantier #" + escape(str("id")))}})
		return Message{Text: text, Blocks: blocks}, true, nil
	case events.SignalementCreated:
		if u, _ := d["urgent"].(bool); !u {
			return Message{}, false, nil
		}
		titre := escape(str("titre"))
		text := "<!channel> Signalement urgent : " + titre
		blocks := []Block{
			{Type: "header", Text: &Text{Type: "plain_text", Text: "Signalement urgent"}},
			{Type: "section", Text: md("<!channel> :rotating_light: *" + titre + "*")},
			{Type: "section", Fields: []Text{*md("*Chantier*\n#" + escape(str("chantier_id"))), *md("*Gravité*\n" + escape(str("gravite")))}},
		}
		if desc := str("description"); desc != "" {
			blocks = append(blocks, Block{Type: "section", Text: md(escape(desc))})
		}
		return Message{Text: text, Blocks: blocks}, true, nil
	case events.APIKeyRotated:
		text := fmt.Sprintf("La clé API « %s » (%s) a été renouvelée ; l'ancien secret reste valable jusqu'au %s.",
			escape(str("name")), escape(str("id")), escape(str("previous_secret_valid_until")))
		return Message{Text: text, Blocks: []Block{{Type: "section", Text: md(":key: " + text)}}}, true, nil
	case events.APIKeyExpiring:
		text := fmt.Sprintf("La clé API « %s » (%s) expire le %s.", escape(str("name")), escape(str("id")), escape(str("expires_at")))
		return Message{Text: text, Blocks: []Block{{Type: "section", Text: md(":hourglass: " + text)}}}, true, nil
	}
	return Message{}, false, nil
}

// post sends m through the webhook or chat.postMessage.
func (c *Connector) post(ctx context.Context, m Message) error {
	if c.webhookURL != "" {
		return c.postWebhook(ctx, m)
	}
	m.Channel = c.channel
	_, err := c.api(ctx, "chat.postMessage", m)
	return err
}

// postWebhook posts to an incoming webhook. Slack answers 200 "ok", or a
// 4xx whose body is an error code (invalid_payload, no_text,
// channel_not_found, channel_is_archived, action_prohibited, no_service,
// invalid_token…): permanent; 429 with Retry-After; 5xx: retried.
func (c *Connector) postWebhook(ctx context.Context, m Message) error {
	status, body, hdr, err := c.do(ctx, c.webhookURL, "", m)
	if err != nil {
		return err
	}
	switch {
	case status == http.StatusOK:
		return nil
	case status == http.StatusTooManyRequests:
		return &connectors.RetryAfterError{After: connectors.ParseRetryAfter(hdr.Get("Retry-After"), c.env.Now(), 30*time.Second, time.Hour),
			Msg: "slack: rate limited (429)"}
	case status >= 500:
		return fmt.Errorf("slack: webhook answered %d", status)
	default:
		return connectors.Permanent("slack: webhook answered %d %s", status, code(body))
	}
}

// api calls a Web API method. Slack answers HTTP 200 with {"ok": false,
// "error": "…"} for refusals, and 429 with Retry-After when rate limited.
func (c *Connector) api(ctx context.Context, method string, payload any) (map[string]any, error) {
	status, body, hdr, err := c.do(ctx, c.apiURL+"/"+method, c.botToken, payload)
	if err != nil {
		return nil, err
	}
	if status == http.StatusTooManyRequests {
		return nil, &connectors.RetryAfterError{After: connectors.ParseRetryAfter(hdr.Get("Retry-After"), c.env.Now(), 30*time.Second, time.Hour),
			Msg: "slack: " + method + " rate limited (429)"}
	}
	if status >= 500 {
		return nil, fmt.Errorf("slack: %s answered %d", method, status)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("slack: %s answered %d without JSON", method, status)
	}
	if ok, _ := out["ok"].(bool); !ok {
		e, _ := out["error"].(string)
		switch e {
		case "ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout":
			return nil, fmt.Errorf("slack: %s: %s", method, code([]byte(e)))
		}
		return nil, connectors.Permanent("slack: %s: %s", method, code([]byte(e)))
	}
	return out, nil
}

// code is a short, printable vendor error code (never a payload).
func code(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 60 {
		s = s[:60]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
}

func (c *Connector) do(ctx context.Context, u, token string, payload any) (int, []byte, http.Header, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return 0, nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return 0, nil, nil, errors.New("slack: bad URL")
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.env.HTTP.Do(req)
	if err != nil {
		// The *url.Error would repeat the URL, which holds the webhook's
		// token: say what failed, not where.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return 0, nil, nil, fmt.Errorf("slack: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, body, resp.Header, nil
}

// Test implements connectors.Connector. With a bot token it calls
// auth.test. An incoming webhook has no test method: an empty payload is
// posted, which Slack refuses with 400 "no_text" without posting anything
// when the webhook exists (404/403/410 otherwise).
func (c *Connector) Test(ctx context.Context) error {
	if c.botToken != "" {
		_, err := c.api(ctx, "auth.test", map[string]any{})
		return err
	}
	status, body, _, err := c.do(ctx, c.webhookURL, "", map[string]any{})
	if err != nil {
		return err
	}
	if status == http.StatusBadRequest && code(body) == "no_text" {
		return nil
	}
	return fmt.Errorf("slack: webhook answered %d %s", status, code(body))
}

var _ connectors.Connector = (*Connector)(nil)
var _ connectors.Inbound = (*Connector)(nil)

// Tolerance is how far X-Slack-Request-Timestamp may be from now (Slack
// recommends five minutes).
const Tolerance = 5 * time.Minute

// Sign returns Slack's v0 signature of a request: "v0=" + hex
// HMAC-SHA256(signing secret, "v0:" + timestamp + ":" + body).
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%d:", ts)
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyInbound implements connectors.Inbound: Slack's signing secret
// scheme, a five-minute tolerance, and the url_verification handshake.
func (c *Connector) VerifyInbound(h http.Header, body []byte, now time.Time) (string, any, error) {
	if c.signingSecret == "" {
		return "", nil, errors.New("no signing_secret configured")
	}
	ts, err := strconv.ParseInt(h.Get("X-Slack-Request-Timestamp"), 10, 64)
	if err != nil {
		return "", nil, errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return "", nil, errors.New("timestamp outside the tolerance")
	}
	if !hmac.Equal([]byte(h.Get("X-Slack-Signature")), []byte(Sign(c.signingSecret, ts, body))) {
		return "", nil, errors.New("bad signature")
	}
	var env struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
		EventID   string `json:"event_id"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return "", nil, errors.New("body is not JSON")
	}
	if env.Type == "url_verification" {
		return "", map[string]string{"challenge": env.Challenge}, nil
	}
	if env.EventID == "" {
		return "", nil, errors.New("no event_id")
	}
	return env.EventID, nil, nil
}

// HandleInbound implements connectors.Inbound. Events are acknowledged and
// counted in the log; acting on them (slash commands, interactive
// messages) is left to later connectors.
func (c *Connector) HandleInbound(ctx context.Context, body []byte) error {
	var env struct {
		Event struct {
			Type string `json:"type"`
		} `json:"event"`
	}
	_ = json.Unmarshal(body, &env)
	c.env.Logger.Info("slack inbound event", "type", code([]byte(env.Event.Type)))
	return nil
}
