package slack

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// FuzzVerifyInbound: whatever a caller sends, verification never panics
// and accepts only bodies signed with the signing secret.
func FuzzVerifyInbound(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add(`{"type":"event_callback","event_id":"Ev1"}`, "1700000000", "")
	f.Add(`{"type":"url_verification","challenge":"x"}`, "1700000000", "v0=00")
	f.Add(`not json`, "-1", "v0=")
	c := &Connector{signingSecret: "s3cret"}
	f.Fuzz(func(t *testing.T, body, ts, sig string) {
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", ts)
		h.Set("X-Slack-Signature", sig)
		if _, _, err := c.VerifyInbound(h, []byte(body), now); err == nil {
			n, _ := strconv.ParseInt(ts, 10, 64)
			if sig != Sign("s3cret", n, []byte(body)) {
				t.Fatalf("accepted an unsigned body %q", body)
			}
		}
		// The signed form of the same body is accepted or refused for its content only.
		h.Set("X-Slack-Request-Timestamp", "1700000000")
		h.Set("X-Slack-Signature", Sign("s3cret", 1_700_000_000, []byte(body)))
		_, _, _ = c.VerifyInbound(h, []byte(body), now)
	})
}
