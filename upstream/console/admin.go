package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/anomaly"
	"github.com/hubchantier/hubgate/upstream/audit"
	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/oauth"
	"github.com/hubchantier/hubgate/upstream/page"
)

// auditFilters are the audit viewer's form fields, in order: the API's
// query parameters, dates as the date inputs send them.
var auditFilters = []string{"user_id", "api_key_id", "action", "resource_type", "resource_id", "status_code", "from", "to"}

// auditData feeds the audit viewer.
type auditData struct {
	Filters  map[string]string
	Records  []auditchain.Record
	Next     string // query string of the next (older) page, "" at the end
	Prev     string
	Verify   *audit.VerifyResult
	Record   *auditchain.Record
	Problems []audit.FieldError
}

// auditQuery turns the viewer's form into the API's query: a date from a
// date input (2026-12-01) is that day's midnight UTC, and "to" includes
// its whole day.
func auditQuery(in url.Values) (url.Values, map[string]string) {
	out, shown := url.Values{}, map[string]string{}
	for _, k := range auditFilters {
		v := in.Get(k)
		if v == "" {
			continue
		}
		shown[k] = v
		if k == "from" || k == "to" {
			if t, err := time.Parse("2006-01-02", v); err == nil {
				if k == "to" {
					t = t.AddDate(0, 0, 1)
				}
				v = t.Format(time.RFC3339)
			}
		}
		out.Set(k, v)
	}
	if cur := in.Get("cursor"); cur != "" {
		out.Set("cursor", cur)
	}
	out.Set("limit", "25")
	return out, shown
}

// auditList is GET /console/admin/audit: filters and cursor paging over
// the audit trail, newest first.
func (c *Console) auditList(q *req) {
	api, shown := auditQuery(q.r.URL.Query())
	d := auditData{Filters: shown}
	aq, errs := audit.ParseQuery(api)
	if len(errs) > 0 {
		d.Problems = errs
		c.render(q, http.StatusBadRequest, "audit.html", view{Title: "Audit log", Nav: "audit", Data: d})
		return
	}
	recs, cur, err := c.d.Audit.List(q.r.Context(), aq)
	if errors.Is(err, page.ErrInvalidCursor) {
		d.Problems = []audit.FieldError{{Field: "cursor", Message: "this page link expired or was altered; start again"}}
		c.render(q, http.StatusBadRequest, "audit.html", view{Title: "Audit log", Nav: "audit", Data: d})
		return
	}
	if err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	d.Records = recs
	link := func(cursor *string) string {
		if cursor == nil {
			return ""
		}
		v := url.Values{}
		for k, val := range shown {
			v.Set(k, val)
		}
		v.Set("cursor", *cursor)
		return v.Encode()
	}
	d.Next, d.Prev = link(cur.NextCursor), link(cur.PrevCursor)
	c.render(q, http.StatusOK, "audit.html", view{Title: "Audit log", Nav: "audit", Data: d})
}

// auditRecord is GET /console/admin/audit/{request_id}: one record, its
// changes and chain members.
func (c *Console) auditRecord(q *req) {
	recs, _, err := c.d.Audit.List(q.r.Context(), audit.Query{RequestID: q.r.PathValue("request_id"), Limit: 1})
	if err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	if len(recs) == 0 {
		c.message(q, http.StatusNotFound, "Not found", "No audit record has that request id.")
		return
	}
	c.render(q, http.StatusOK, "audit_record.html", view{Title: "Audit record", Nav: "audit", Data: auditData{Record: &recs[0]}})
}

// auditVerify is POST /console/admin/audit/verify: the chain verification
// of `hubchantier audit verify`, on demand (it reads every record).
func (c *Console) auditVerify(q *req) {
	res, err := c.d.Audit.Verify(q.r.Context(), audit.VerifyOptions{})
	if err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	c.render(q, http.StatusOK, "audit.html", view{Title: "Audit log", Nav: "audit", Data: auditData{Filters: map[string]string{}, Verify: &res}})
}

// anomalies is GET /console/admin/anomalies: the last 50 detections.
func (c *Console) anomalies(q *req) {
	evs, _, err := c.d.Anomalies.List(q.r.Context(), anomaly.Filter{}, nil, 50)
	if err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	c.render(q, http.StatusOK, "anomalies.html", view{Title: "Anomalies", Nav: "anomalies", Data: evs})
}

// clients is GET /console/admin/oauth-clients.
func (c *Console) clients(q *req) {
	cl, err := c.d.OAuth.ListClients(q.r.Context())
	if err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	c.render(q, http.StatusOK, "clients.html", view{Title: "OAuth clients", Nav: "clients",
		Flash: flashes[q.r.URL.Query().Get("done")], Data: cl})
}

// revokeClient is POST /console/admin/oauth-clients/{id}/revoke.
func (c *Console) revokeClient(q *req) {
	err := c.d.OAuth.RevokeClient(q.r.Context(), q.r.PathValue("id"))
	switch {
	case errors.Is(err, oauth.ErrNotFound):
		c.message(q, http.StatusNotFound, "Not found", "No such OAuth client.")
	case err != nil:
		c.fail(q.w, q.r, err)
	default:
		redirect(q, "admin/oauth-clients?done=client")
	}
}

// usersData feeds the users page.
type usersData struct {
	Users []auth.User
	Roles []string
}

// users is GET /console/admin/users: users and roles.
func (c *Console) users(q *req) {
	us, err := c.d.Auth.ListUsers(q.r.Context())
	if err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	c.render(q, http.StatusOK, "users.html", view{Title: "Users and roles", Nav: "users",
		Flash: flashes[q.r.URL.Query().Get("done")],
		Data:  usersData{Users: us, Roles: []string{auth.RoleAdmin, auth.RoleConducteur, auth.RoleOuvrier}}})
}

// updateUser is POST /console/admin/users/{id}: a new role and/or active
// state. Either change cuts the user's sessions, tokens and cached keys
// (auth.UpdateUser). An administrator cannot demote or deactivate
// themself here, so the console never locks its last admin out by a
// misclick.
func (c *Console) updateUser(q *req) {
	id, err := strconv.ParseInt(q.r.PathValue("id"), 10, 64)
	if err != nil {
		c.message(q, http.StatusNotFound, "Not found", "No such user.")
		return
	}
	f := q.r.PostForm
	role, active := f.Get("role"), f.Get("active") == "on"
	if id == q.user.ID && (role != auth.RoleAdmin || !active) {
		c.message(q, http.StatusConflict, "Not changed", "You cannot remove your own administrator role or deactivate yourself.")
		return
	}
	_, err = c.d.Auth.UpdateUser(q.r.Context(), id, auth.UserPatch{Role: &role, Active: &active})
	var fe *auth.FieldError
	switch {
	case errors.Is(err, auth.ErrNotFound):
		c.message(q, http.StatusNotFound, "Not found", "No such user.")
	case errors.As(err, &fe):
		c.message(q, http.StatusBadRequest, "Not changed", fieldLabel(fe.Field)+": "+fe.Msg)
	case errors.Is(err, auth.ErrConflict):
		c.message(q, http.StatusConflict, "Not changed", "The user changed meanwhile; reload and retry.")
	case err != nil:
		c.fail(q.w, q.r, err)
	default:
		redirect(q, "admin/users?done=role")
	}
}
