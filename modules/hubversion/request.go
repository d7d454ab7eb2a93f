package hubversion

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/jsonx"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

var (
	errBodyTooLarge = errors.New("request body too large")
	errBodyInvalid  = errors.New("request body is not valid JSON")
)

// serveV2 translates one v2 exchange.
func (h *Handler) serveV2(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	plan := hub.FieldsPlanOf(r)
	if plan != nil {
		// hub_fields left the v2 names to us: validate them against the
		// whitelist (v1 names) and apply the selection in our pass.
		if err := plan.Compile(h.mapping.V1); err != nil {
			count("invalid_request")
			return jsonx.WriteFieldsProblem(w, r, plan, err, h.mapping.V2)
		}
		plan.Claimed = true
	}
	h.rewriteRequest(r)
	if err := h.rewriteBody(r); err != nil {
		count("invalid_request")
		return h.bodyProblem(w, r, err)
	}
	rec := jsonx.NewRecorder(w, h.MaxBody, func(status int, hdr http.Header) bool {
		h.rewriteLocation(hdr)
		return jsonx.Transformable(status, hdr, 1<<62)
	})
	rec.Strict = true
	rec.KeepETag = hub.KeepUpstreamETag
	if err := next.ServeHTTP(rec, r); err != nil {
		if rec.Buffered() {
			rec.Discard()
		}
		return err
	}
	switch {
	case rec.Overflowed():
		rec.Discard()
		count("too_large")
		h.log.Warn("v2 answer too large to translate", zap.String("path", r.URL.Path), zap.Int("max_body", h.MaxBody))
		problem.Write(w, r, problem.New(http.StatusBadGateway, "response-too-large", "Bad Gateway",
			"the answer is too large to be translated to v2; narrow the request (limit, fields)"))
		return nil
	case !rec.Buffered():
		count("passthrough")
		return nil
	}
	return h.translateResponse(rec, r, plan)
}

// rewriteRequest maps the path to v1 and renames query parameters.
func (h *Handler) rewriteRequest(r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, h.V2Prefix)
	r.URL.Path = h.V1Prefix + rest
	if r.URL.RawPath != "" {
		r.URL.RawPath = h.V1Prefix + strings.TrimPrefix(r.URL.RawPath, h.V2Prefix)
	}
	if r.URL.RawQuery != "" {
		r.URL.RawQuery = h.renameQuery(r.URL.RawQuery)
	}
	r.RequestURI = r.URL.RequestURI()
}

// renameQuery renames parameter names v2→v1 and the names listed in
// fields= and sort= values; other values (filters' values, cursors) are
// kept byte for byte, so an upstream cursor bound to v1 filters walks on.
func (h *Handler) renameQuery(raw string) string {
	var b strings.Builder
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, hasV := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k // the upstream refuses it in its own words
		}
		v1 := h.mapping.V1(name)
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(v1))
		if !hasV {
			continue
		}
		b.WriteByte('=')
		if v1 == "fields" || v1 == "sort" {
			if val, err := url.QueryUnescape(v); err == nil {
				v = url.QueryEscape(h.renameList(val))
			}
		}
		b.WriteString(v)
	}
	return b.String()
}

// renameList maps a comma list of dotted names, each optionally prefixed
// by - or + (sort order).
func (h *Handler) renameList(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		sign := ""
		if p != "" && (p[0] == '-' || p[0] == '+') {
			sign, p = p[:1], p[1:]
		}
		parts[i] = sign + jsonx.Path(p, h.mapping.V1)
	}
	return strings.Join(parts, ",")
}

// rewriteBody renames the members of a JSON request body v2→v1. Names
// with no v1 meaning pass through renamed by the default rule, so the
// upstream names the bad field (mapped back to v2 in its problem).
func (h *Handler) rewriteBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || !jsonx.IsJSON(r.Header.Get("Content-Type")) {
		return nil
	}
	if r.ContentLength > int64(h.MaxRequestBody) {
		return errBodyTooLarge
	}
	in, err := io.ReadAll(io.LimitReader(r.Body, int64(h.MaxRequestBody)+1))
	_ = r.Body.Close()
	if err != nil {
		return err
	}
	if len(in) > h.MaxRequestBody {
		return errBodyTooLarge
	}
	out, err := jsonx.Apply(make([]byte, 0, len(in)+len(in)/8), in, &jsonx.Options{Rename: h.mapping.AppendV1})
	if err != nil {
		return errBodyInvalid
	}
	count("request_body")
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.ContentLength = int64(len(out))
	r.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

// bodyProblem answers a request body that cannot be translated.
func (h *Handler) bodyProblem(w http.ResponseWriter, r *http.Request, err error) error {
	switch {
	case errors.Is(err, errBodyTooLarge):
		problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large",
			"the body exceeds "+strconv.Itoa(h.MaxRequestBody)+" bytes"))
	case errors.Is(err, errBodyInvalid):
		problem.Write(w, r, problem.New(http.StatusBadRequest, "validation", "Invalid request", "the body is not valid JSON"))
	default:
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	return nil
}

// rewriteLocation points Location and Content-Location at v2.
func (h *Handler) rewriteLocation(hdr http.Header) {
	for _, name := range []string{"Location", "Content-Location"} {
		if loc := hdr.Get(name); strings.HasPrefix(loc, h.V1Prefix) {
			hdr.Set(name, h.V2Prefix+strings.TrimPrefix(loc, h.V1Prefix))
		}
	}
}
