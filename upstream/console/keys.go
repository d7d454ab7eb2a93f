package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/hubchantier/hubgate/upstream/auth"
)

// keysData feeds the API keys pages.
type keysData struct {
	Keys    []auth.KeyInfo
	Created *auth.Created // set once, on the answer to a create or rotate
	Key     *auth.KeyInfo // the key a confirmation page is about
	Form    keyForm
	Scopes  []scopeChoice
	Max     int
}

// keyForm is the create form as sent, to show it again with an error.
type keyForm struct {
	Name, Description, ExpiresIn, IPs, RateLimit string
}

// scopeChoice is one checkbox of the create form.
type scopeChoice struct {
	Value   string
	Checked bool
}

// flashes are the fixed messages a redirect may ask for (?done=…): the
// query never carries free text into the page.
var flashes = map[string]string{
	"revoked":     "The key was revoked. Requests made with it are refused.",
	"app-revoked": "The app's access was revoked.",
	"role":        "The user was updated. Their sessions and tokens were cut.",
	"client":      "The OAuth client was revoked.",
}

// grantable lists the scopes a user of role may give a key, in a stable
// order: read, write, admin, then <resource>:read|write|*.
func grantable(role string, checked map[string]bool) []scopeChoice {
	all := []string{"read", "write", "admin"}
	for _, r := range auth.Resources {
		all = append(all, r+":read", r+":write", r+":*")
	}
	var out []scopeChoice
	for _, s := range all {
		if auth.Grantable(role, s) {
			out = append(out, scopeChoice{Value: s, Checked: checked[s]})
		}
	}
	return out
}

// ownKey loads key id when it belongs to the signed-in user.
func (c *Console) ownKey(q *req, id string) (*auth.KeyInfo, bool) {
	keys, err := c.d.Auth.ListAPIKeys(q.r.Context(), q.user.ID)
	if err != nil {
		c.fail(q.w, q.r, err)
		return nil, false
	}
	for i := range keys {
		if keys[i].ID == id {
			return &keys[i], true
		}
	}
	c.message(q, http.StatusNotFound, "Not found", "You have no API key with that id.")
	return nil, false
}

// keys is GET /console/api-keys: the list.
func (c *Console) keys(q *req) {
	c.renderKeys(q, http.StatusOK, nil, flashes[q.r.URL.Query().Get("done")], "")
}

func (c *Console) renderKeys(q *req, status int, created *auth.Created, flash, errMsg string) {
	keys, err := c.d.Auth.ListAPIKeys(q.r.Context(), q.user.ID)
	if err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	c.render(q, status, "keys.html", view{Title: "API keys", Nav: "api-keys", Flash: flash, Error: errMsg,
		Data: keysData{Keys: keys, Created: created, Max: auth.MaxActiveKeys}})
}

// newKey is GET /console/api-keys/new: the create form.
func (c *Console) newKey(q *req) {
	c.render(q, http.StatusOK, "key_new.html", view{Title: "Create key", Nav: "api-keys",
		Data: keysData{Form: keyForm{ExpiresIn: strconv.Itoa(auth.DefaultExpiryDays)}, Scopes: grantable(q.user.Role, map[string]bool{"read": true})}})
}

// createKey is POST /console/api-keys. The answer is the page itself (no
// redirect): it holds the secret, shown this once and stored nowhere.
func (c *Console) createKey(q *req) {
	f := q.r.PostForm
	form := keyForm{Name: f.Get("name"), Description: f.Get("description"), ExpiresIn: f.Get("expires_in_days"),
		IPs: f.Get("ip_whitelist"), RateLimit: f.Get("rate_limit")}
	checked := map[string]bool{}
	for _, s := range f["scopes"] {
		checked[s] = true
	}
	again := func(status int, msg string) {
		c.render(q, status, "key_new.html", view{Title: "Create key", Nav: "api-keys", Error: msg,
			Data: keysData{Form: form, Scopes: grantable(q.user.Role, checked)}})
	}
	days := 0
	if form.ExpiresIn != "" {
		n, err := strconv.Atoi(strings.TrimSpace(form.ExpiresIn))
		if err != nil {
			again(http.StatusBadRequest, "Expires in: enter a number of days.")
			return
		}
		days = n
	}
	cr, err := c.d.Auth.CreateAPIKey(q.r.Context(), strconv.FormatInt(q.user.ID, 10), auth.CreateKeyRequest{
		Name: form.Name, Description: form.Description, Scopes: f["scopes"], ExpiresInDays: days,
		IPWhitelist: strings.Fields(strings.ReplaceAll(form.IPs, ",", " ")), RateLimit: strings.TrimSpace(form.RateLimit),
	})
	var fe *auth.FieldError
	switch {
	case errors.As(err, &fe):
		again(http.StatusBadRequest, fieldLabel(fe.Field)+": "+fe.Msg)
		return
	case errors.Is(err, auth.ErrTooManyKeys):
		again(http.StatusConflict, "You already hold "+strconv.Itoa(auth.MaxActiveKeys)+" active keys: revoke one first.")
		return
	case err != nil:
		c.fail(q.w, q.r, err)
		return
	}
	c.renderKeys(q, http.StatusCreated, &cr, "", "")
}

// fieldLabel is the form label of an API field name.
func fieldLabel(f string) string {
	switch f {
	case "name":
		return "Name"
	case "description":
		return "Description"
	case "scopes":
		return "Scopes"
	case "expires_in_days":
		return "Expires in"
	case "ip_whitelist":
		return "IP allowlist"
	case "rate_limit":
		return "Rate limit"
	}
	return f
}

// confirmRevoke is GET /console/api-keys/{id}/revoke: the confirmation
// page, for browsers without JavaScript (the list opens a dialog instead).
func (c *Console) confirmRevoke(q *req) {
	k, ok := c.ownKey(q, q.r.PathValue("id"))
	if !ok {
		return
	}
	c.render(q, http.StatusOK, "key_revoke.html", view{Title: "Revoke key", Nav: "api-keys", Data: keysData{Key: k}})
}

// revokeKey is POST /console/api-keys/{id}/revoke.
func (c *Console) revokeKey(q *req) {
	k, ok := c.ownKey(q, q.r.PathValue("id"))
	if !ok {
		return
	}
	if err := c.d.Auth.RevokeAPIKey(q.r.Context(), k.ID); err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	redirect(q, "api-keys?done=revoked")
}

// rotateKey is POST /console/api-keys/{id}/rotate: a new secret, shown
// once; the previous one keeps working for the grace period.
func (c *Console) rotateKey(q *req) {
	k, ok := c.ownKey(q, q.r.PathValue("id"))
	if !ok {
		return
	}
	cr, err := c.d.Auth.RotateAPIKey(q.r.Context(), k.ID)
	switch {
	case errors.Is(err, auth.ErrKeyInactive):
		c.renderKeys(q, http.StatusConflict, nil, "", "A revoked or expired key cannot be rotated.")
		return
	case errors.Is(err, auth.ErrConflict):
		c.renderKeys(q, http.StatusConflict, nil, "", "The key changed meanwhile; retry.")
		return
	case err != nil:
		c.fail(q.w, q.r, err)
		return
	}
	c.renderKeys(q, http.StatusOK, &cr, "", "")
}
