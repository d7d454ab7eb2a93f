package oauth

import (
	"context"
	"errors"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hubchantier/hubgate/upstream/auth"
)

// maxFormBody bounds the body of the token, revoke and introspect endpoints.
const maxFormBody = 64 << 10

// parseForm reads an application/x-www-form-urlencoded body (RFC 6749
// §3.2) and refuses repeated parameters (§3.1: none may appear twice).
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, errRequest("the body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &tokenError{Code: "invalid_request", Desc: "the body is larger than " + strconv.Itoa(maxFormBody) + " bytes",
				status: http.StatusRequestEntityTooLarge}
		}
		return nil, errRequest("the body is not a valid form")
	}
	if len(r.URL.RawQuery) > 0 {
		// Credentials in a URL end up in logs: parameters go in the body only.
		return nil, errRequest("parameters must be sent in the body, not the query string")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, errRequest("parameter " + k + " is repeated")
		}
	}
	return r.PostForm, nil
}

// authenticateClient identifies the caller (RFC 6749 §2.3):
// client_secret_basic, client_secret_post, or, for public clients, a bare
// client_id. Failures are throttled per (registered client, client
// network) and logged without the secret: others' failures never refuse
// the client from its own network.
func (s *Server) authenticateClient(r *http.Request, form url.Values) (Client, error) {
	id, secret, basic := r.BasicAuth()
	if basic {
		// §2.3.1: the Basic user and password are form-encoded first.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return Client{}, &tokenError{Code: "invalid_client", Desc: "malformed Basic credentials", basic: true}
		}
		if form.Get("client_secret") != "" {
			return Client{}, errRequest("use one client authentication method, not both Basic and client_secret")
		}
		if b := form.Get("client_id"); b != "" && b != id {
			return Client{}, errRequest("client_id in the body differs from the Basic credentials")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	ip := s.auth.ClientIP(r)
	fail := func(reason string) error {
		s.log.Warn("client authentication failed", "client_id", truncate(id, 64), "reason", reason, "remote", ip)
		return &tokenError{Code: "invalid_client", Desc: "client authentication failed", basic: basic}
	}
	if id == "" {
		return Client{}, fail("no client_id")
	}
	now := s.now()
	key := id + "\x00" + auth.IPNetwork(ip, auth.DefaultIPv4Prefix, auth.DefaultIPv6Prefix)
	if wait := s.throttle.Wait(key, now); wait > 0 {
		s.log.Warn("client authentication throttled", "client_id", truncate(id, 64), "remote", ip)
		return Client{}, &tokenError{Code: "invalid_client", Desc: "too many failed authentications for this client; retry later",
			status: http.StatusTooManyRequests, retryAfter: int(math.Ceil(wait.Seconds()))}
	}
	c, err := s.ClientByID(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Client{}, fail("unknown client")
	case err != nil:
		return Client{}, err
	case c.RevokedAt != nil:
		return Client{}, fail("client revoked")
	case c.Public && secret != "":
		return Client{}, fail("public client sent a secret")
	case c.Public:
		return c, nil
	case secret == "":
		s.throttle.Fail(key, now)
		return Client{}, fail("no client secret")
	case !c.checkSecret(secret):
		s.throttle.Fail(key, now)
		return Client{}, fail("bad client secret")
	}
	return c, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// handleToken is the token endpoint (RFC 6749 §3.2, §4.1.3, §6).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	resp, err := s.token(w, r)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	writeTokenJSON(w, http.StatusOK, resp)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) (tokenResponse, error) {
	form, err := parseForm(w, r)
	if err != nil {
		return tokenResponse{}, err
	}
	gt := form.Get("grant_type")
	switch gt {
	case "":
		return tokenResponse{}, errRequest("grant_type is required")
	case "authorization_code", "refresh_token":
	default:
		return tokenResponse{}, &tokenError{Code: "unsupported_grant_type", Desc: "supported: authorization_code, refresh_token"}
	}
	c, err := s.authenticateClient(r, form)
	if err != nil {
		return tokenResponse{}, err
	}
	ctx := r.Context()
	if gt == "refresh_token" {
		rt := form.Get("refresh_token")
		if rt == "" {
			return tokenResponse{}, errRequest("refresh_token is required")
		}
		return s.logGrantFailure(ctx, c, gt, r)(s.refresh(ctx, c, rt, strings.Fields(form.Get("scope"))))
	}
	code := form.Get("code")
	if code == "" {
		return tokenResponse{}, errRequest("code is required")
	}
	if form.Get("redirect_uri") == "" {
		return tokenResponse{}, errRequest("redirect_uri is required")
	}
	return s.logGrantFailure(ctx, c, gt, r)(s.redeemCode(ctx, c, code, form.Get("redirect_uri"), form.Get("code_verifier")))
}

// logGrantFailure logs a refused grant (error code only, never the code or
// token) and passes the result through.
func (s *Server) logGrantFailure(_ context.Context, c Client, gt string, r *http.Request) func(tokenResponse, error) (tokenResponse, error) {
	return func(t tokenResponse, err error) (tokenResponse, error) {
		var te *tokenError
		if errors.As(err, &te) {
			s.log.Info("token request refused", "client_id", c.ID, "grant_type", gt, "error", te.Code, "reason", te.Desc, "remote", s.auth.ClientIP(r))
		}
		return t, err
	}
}
