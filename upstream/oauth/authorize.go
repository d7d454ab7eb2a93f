package oauth

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hubchantier/hubgate/upstream/auth"
)

// authzParams are the authorization request parameters carried from the
// first GET through the login and consent forms (RFC 6749 §4.1.1, RFC 7636
// §4.3). Every step re-validates them: the hidden fields are client input.
var authzParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

// maxStateLen bounds the opaque state echoed back to the client.
const maxStateLen = 1024

// authzRequest is a validated authorization request.
type authzRequest struct {
	client      Client
	redirectURI string
	state       string
	scopes      []string
	challenge   string
	params      []param
}

// redirectError is an error answered at the client's redirect URI
// (RFC 6749 §4.1.2.1), once that URI is known to be the client's.
type redirectError struct{ code, desc string }

// validateAuthz checks an authorization request. pageErr is set when the
// client or redirect URI is wrong: shown to the user, never redirected.
func (s *Server) validateAuthz(r *http.Request, v url.Values) (req authzRequest, pageErr string, rerr *redirectError, err error) {
	if len(v["client_id"]) != 1 || len(v["redirect_uri"]) != 1 {
		return req, "The request must name exactly one client_id and one redirect_uri.", nil, nil
	}
	c, err := s.ClientByID(r.Context(), v.Get("client_id"))
	if errors.Is(err, ErrNotFound) || (err == nil && c.RevokedAt != nil) {
		return req, "Unknown application (client_id).", nil, nil
	}
	if err != nil {
		return req, "", nil, err
	}
	req.client = c
	req.redirectURI = v.Get("redirect_uri")
	if !redirectAllowed(c.RedirectURIs, req.redirectURI) {
		return req, "The redirect_uri is not registered for this application.", nil, nil
	}
	req.state = v.Get("state")
	for _, name := range authzParams {
		if len(v[name]) > 1 {
			return req, "", &redirectError{"invalid_request", "parameter " + name + " is repeated"}, nil
		}
		if val := v.Get(name); val != "" {
			req.params = append(req.params, param{name, val})
		}
	}
	if len(req.state) > maxStateLen {
		req.state = ""
		return req, "", &redirectError{"invalid_request", "state is too long"}, nil
	}
	switch v.Get("response_type") {
	case "code":
	case "":
		return req, "", &redirectError{"invalid_request", "response_type is required"}, nil
	default:
		return req, "", &redirectError{"unsupported_response_type", "only response_type=code is supported"}, nil
	}
	req.scopes = strings.Fields(v.Get("scope"))
	if len(req.scopes) == 0 {
		req.scopes = c.Scopes // RFC 6749 §3.3: the registered default
	}
	for _, sc := range req.scopes {
		if !contains(c.Scopes, sc) {
			return req, "", &redirectError{"invalid_scope", "scope " + sc + " is not allowed for this client"}, nil
		}
	}
	req.challenge = v.Get("code_challenge")
	method := v.Get("code_challenge_method")
	switch {
	case req.challenge == "" && method != "":
		return req, "", &redirectError{"invalid_request", "code_challenge_method without code_challenge"}, nil
	case req.challenge == "" && c.Public:
		return req, "", &redirectError{"invalid_request", "PKCE is required for public clients: send code_challenge with code_challenge_method=S256"}, nil
	case req.challenge != "" && method != "S256":
		// A missing method means "plain" (RFC 7636 §4.3), which is refused:
		// only S256 protects a code intercepted with its request.
		return req, "", &redirectError{"invalid_request", "code_challenge_method must be S256 (plain is not supported)"}, nil
	case req.challenge != "" && (len(req.challenge) != 43 || !validPKCEValue(req.challenge)):
		return req, "", &redirectError{"invalid_request", "code_challenge must be the base64url SHA-256 of the verifier (43 characters)"}, nil
	}
	return req, "", nil, nil
}

// redirectTo answers 303 to the client's redirect URI with params added to
// its query (RFC 6749 §4.1.2), plus state and iss (RFC 9207).
func (s *Server) redirectTo(w http.ResponseWriter, r *http.Request, req authzRequest, params url.Values) {
	u, err := url.Parse(req.redirectURI)
	if err != nil {
		s.errorPage(w, http.StatusBadRequest, "The redirect_uri is invalid.")
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	if iss := s.issuer(); iss != "" {
		q.Set("iss", iss) // RFC 9207, when an issuer is configured
	}
	u.RawQuery = q.Encode()
	setPageHeaders(w.Header())
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusSeeOther)
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, req authzRequest, e *redirectError) {
	s.log.Info("authorization refused", "client_id", req.client.ID, "error", e.code, "reason", e.desc)
	s.redirectTo(w, r, req, url.Values{"error": {e.code}, "error_description": {sanitizeDescription(e.desc)}})
}

// handleAuthorize is GET /oauth/authorize: validate, then the login page or
// the consent page.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	s.authorizePage(w, r, r.URL.Query())
}

func (s *Server) authorizePage(w http.ResponseWriter, r *http.Request, v url.Values) {
	req, pageErr, rerr, err := s.validateAuthz(r, v)
	switch {
	case err != nil:
		s.log.Error("authorize", "error", err)
		s.errorPage(w, http.StatusInternalServerError, "The server could not process the request. Try again later.")
		return
	case pageErr != "":
		s.errorPage(w, http.StatusBadRequest, pageErr)
		return
	case rerr != nil:
		s.redirectError(w, r, req, rerr)
		return
	}
	u, sess, err := s.session(r.Context(), r)
	if errors.Is(err, ErrNotFound) {
		s.render(w, http.StatusOK, "login.html", pageData{Title: "Sign in", ClientName: req.client.Name,
			CSRF: s.loginCSRF(w, r), Params: req.params})
		return
	}
	if err != nil {
		s.log.Error("authorize session", "error", err)
		s.errorPage(w, http.StatusInternalServerError, "The server could not process the request. Try again later.")
		return
	}
	scopes := grantableFor(u.Role, req.scopes)
	if len(scopes) == 0 {
		s.redirectError(w, r, req, &redirectError{"invalid_scope", "the user's role allows none of the requested scopes"})
		return
	}
	s.render(w, http.StatusOK, "consent.html", pageData{Title: "Authorize " + req.client.Name, ClientName: req.client.Name,
		Email: u.Email, CSRF: s.consentCSRF(sess), RedirectURI: req.redirectURI, Scopes: scopes, Params: req.params})
}

// handleLogin is the login form's target: on success it opens a session and
// sends the browser back to the authorization request (303).
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	v := r.PostForm
	if !s.checkLoginCSRF(r, v.Get("csrf_token")) {
		s.errorPage(w, http.StatusForbidden, "The sign-in form expired or was not sent from this site. Go back to the application and start again.")
		return
	}
	req, pageErr, _, err := s.validateAuthz(r, v)
	if err != nil || pageErr != "" {
		s.authorizePage(w, r, v) // shows the same error page as the GET
		return
	}
	u, err := s.auth.Login(r.Context(), r, v.Get("email"), v.Get("password"))
	s.auth.ReportLoginAccount(r.Context(), w, v.Get("email"), u.ID, err) // for hub_audit
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		// Per (account, client network), shared with POST /api/auth/login.
		s.log.Warn("oauth login throttled", "client_id", req.client.ID, "remote", s.auth.ClientIP(r))
		w.Header().Set("Retry-After", strconv.Itoa(te.Seconds()))
		s.render(w, http.StatusTooManyRequests, "login.html", pageData{Title: "Sign in", ClientName: req.client.Name,
			Error: "Too many failed sign-ins for this account. Try again in " + strconv.Itoa((te.Seconds()+59)/60) + " minute(s).",
			Email: v.Get("email"), CSRF: s.loginCSRF(w, r), Params: req.params})
		return
	}
	if errors.Is(err, auth.ErrBadCredentials) {
		s.log.Info("oauth login failed", "client_id", req.client.ID, "remote", s.auth.ClientIP(r))
		s.render(w, http.StatusUnauthorized, "login.html", pageData{Title: "Sign in", ClientName: req.client.Name,
			Error: "Invalid email or password.", Email: v.Get("email"), CSRF: s.loginCSRF(w, r), Params: req.params})
		return
	}
	if err == nil {
		err = s.createSession(r.Context(), w, r, u.ID)
	}
	if err != nil {
		s.log.Error("oauth login", "error", err)
		s.errorPage(w, http.StatusInternalServerError, "The server could not process the request. Try again later.")
		return
	}
	back := url.Values{}
	for _, p := range req.params {
		back.Set(p.Name, p.Value)
	}
	setPageHeaders(w.Header())
	w.Header().Set("Location", "/oauth/authorize?"+back.Encode())
	w.WriteHeader(http.StatusSeeOther)
}

// handleConsent is POST /oauth/authorize: the user's answer on the consent
// page. approve issues a code; deny answers access_denied; both 303.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	v := r.PostForm
	req, pageErr, rerr, err := s.validateAuthz(r, v)
	switch {
	case err != nil:
		s.log.Error("consent", "error", err)
		s.errorPage(w, http.StatusInternalServerError, "The server could not process the request. Try again later.")
		return
	case pageErr != "":
		s.errorPage(w, http.StatusBadRequest, pageErr)
		return
	}
	u, sess, err := s.session(r.Context(), r)
	if err != nil || !s.checkCSRF(csrfConsent, sess, v.Get("csrf_token")) {
		s.errorPage(w, http.StatusForbidden, "Your session expired or the form was not sent from this site. Go back to the application and start again.")
		return
	}
	if rerr != nil {
		s.redirectError(w, r, req, rerr)
		return
	}
	if v.Get("action") != "approve" {
		s.redirectError(w, r, req, &redirectError{"access_denied", "the user denied the request"})
		return
	}
	scopes := grantableFor(u.Role, req.scopes)
	if len(scopes) == 0 {
		s.redirectError(w, r, req, &redirectError{"invalid_scope", "the user's role allows none of the requested scopes"})
		return
	}
	code, err := s.issueCode(r.Context(), req.client.ID, u.ID, req.redirectURI, scopes, req.challenge)
	if err != nil {
		s.log.Error("issue code", "error", err)
		s.redirectTo(w, r, req, url.Values{"error": {"server_error"}})
		return
	}
	s.redirectTo(w, r, req, url.Values{"code": {code}})
}
