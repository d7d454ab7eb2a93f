package dropbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/hubchantier/hubgate/upstream/connectors"
)

// client calls Dropbox's HTTP API
// (https://www.dropbox.com/developers/documentation/http/documentation):
// RPC endpoints take JSON bodies; content-upload endpoints take the
// arguments in the Dropbox-API-Arg header (HTTP-header-safe JSON) and the
// bytes as application/octet-stream.
type client struct {
	http         *http.Client
	api, content string
	limit        int64
	token        func(ctx context.Context, stale string) (string, error)
}

// apiError is Dropbox's error body: {"error_summary": "path/conflict/file/..", "error": {...}}.
type apiError struct {
	Status  int
	Summary string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("dropbox: HTTP %d %s", e.Status, e.Summary)
}

// conflict reports a 409 whose summary starts with prefix.
func isSummary(err error, prefix string) bool {
	var e *apiError
	return errors.As(err, &e) && e.Status == http.StatusConflict && strings.HasPrefix(e.Summary, prefix)
}

// headerJSON encodes v as Dropbox's "HTTP header safe" JSON: every
// character above 0x7E escaped as \uXXXX (UTF-16, surrogate pairs).
func headerJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for _, r := range string(b) {
		if r < 0x7f {
			sb.WriteRune(r)
			continue
		}
		if r > 0xffff {
			a, z := utf16.EncodeRune(r)
			fmt.Fprintf(&sb, `\u%04x\u%04x`, a, z)
			continue
		}
		fmt.Fprintf(&sb, `\u%04x`, r)
	}
	return sb.String(), nil
}

// rpc calls an RPC endpoint with token (revocation: no managed token).
func (c *client) rpc(ctx context.Context, token, path string, arg, out any) error {
	return c.send(ctx, token, c.api+path, arg, nil, out)
}

// send makes one request: arg is the JSON body (rpc) or, with body set,
// the Dropbox-API-Arg header of a content upload.
func (c *client) send(ctx context.Context, token, url string, arg any, body []byte, out any) error {
	var rd io.Reader
	var hdrArg string
	ct := ""
	switch {
	case body != nil:
		a, err := headerJSON(arg)
		if err != nil {
			return err
		}
		hdrArg, rd, ct = a, bytes.NewReader(body), "application/octet-stream"
	case arg != nil:
		b, err := json.Marshal(arg)
		if err != nil {
			return err
		}
		rd, ct = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if hdrArg != "" {
		req.Header.Set("Dropbox-API-Arg", hdrArg)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errors.New("dropbox unreachable") // never the URL
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusOK:
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("dropbox: unreadable answer to %s", pathOf(url))
			}
		}
		return nil
	case resp.StatusCode == http.StatusTooManyRequests:
		return &connectors.RetryAfterError{After: connectors.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now(), 5*time.Second, 10*time.Minute),
			Msg: "dropbox: too_many_requests"}
	}
	e := &apiError{Status: resp.StatusCode}
	var body2 struct {
		Summary string `json:"error_summary"`
	}
	if json.Unmarshal(raw, &body2) == nil {
		e.Summary = sanitizeSummary(body2.Summary)
	}
	switch {
	case resp.StatusCode >= 500:
		return e // retried
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusConflict:
		return e // the caller decides
	default:
		return connectors.Permanent("%s", e.Error())
	}
}

// sanitizeSummary keeps Dropbox's error code path (printable, short).
func sanitizeSummary(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 120 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./-", r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func pathOf(url string) string {
	if i := strings.Index(url, "/2/"); i >= 0 {
		return url[i:]
	}
	return "the endpoint"
}

// call sends with the managed token; a 401 (expired or revoked token)
// refreshes the token once and sends again.
func (c *client) call(ctx context.Context, url string, arg any, body []byte, out any) error {
	tok, err := c.token(ctx, "")
	if err != nil {
		return err
	}
	err = c.send(ctx, tok, url, arg, body, out)
	var e *apiError
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		return err
	}
	if tok, err = c.token(ctx, tok); err != nil {
		return err
	}
	err = c.send(ctx, tok, url, arg, body, out)
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		return connectors.Permanent("%s (after a token refresh)", e.Error())
	}
	return err
}
