package console

import (
	"errors"
	"net/http"
	"sort"
	"strconv"

	"github.com/hubchantier/hubgate/upstream/audit"
	"github.com/hubchantier/hubgate/upstream/oauth"
)

// UsageDays is the window of the usage page.
const UsageDays = 14

// apps is GET /console/apps: the OAuth2 apps that act for the user.
func (c *Console) apps(q *req) {
	apps, err := c.d.OAuth.Apps(q.r.Context(), q.user.ID)
	if err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	c.render(q, http.StatusOK, "apps.html", view{Title: "Authorized apps", Nav: "apps",
		Flash: flashes[q.r.URL.Query().Get("done")], Data: apps})
}

// revokeApp is POST /console/apps/{client_id}/revoke.
func (c *Console) revokeApp(q *req) {
	err := c.d.OAuth.RevokeApp(q.r.Context(), q.user.ID, q.r.PathValue("client_id"))
	switch {
	case errors.Is(err, oauth.ErrNotFound):
		c.message(q, http.StatusNotFound, "Not found", "No such authorized app.")
	case err != nil:
		c.fail(q.w, q.r, err)
	default:
		redirect(q, "apps?done=app-revoked")
	}
}

// usageData feeds the usage page: the days as SVG bars (heights in the
// chart's units, computed here so the template does no arithmetic).
type usageData struct {
	audit.Usage
	Bars []bar
	Keys []keyCount
	Max  int64
	// Quotas are the active keys' and the account's quotas and what is
	// left of them.
	Quotas quotaView
}

type bar struct {
	audit.DayUsage
	X, H, Y, LH, LY int
}

type keyCount struct {
	Key   string
	Count int64
}

// chartHeight is the SVG chart's drawing height.
const chartHeight = 120

// usage is GET /console/usage: the user's requests per day and per key
// and their 429s, from the audit trail.
func (c *Console) usage(q *req) {
	u, err := c.d.Audit.Usage(q.r.Context(), strconv.FormatInt(q.user.ID, 10), UsageDays, c.d.Now())
	if err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	d := usageData{Usage: u, Max: 1}
	for _, day := range u.Days {
		d.Max = max(d.Max, day.Total)
	}
	for i, day := range u.Days {
		h := int(day.Total * chartHeight / d.Max)
		lh := int(day.Limited * chartHeight / d.Max)
		d.Bars = append(d.Bars, bar{DayUsage: day, X: i * 30, H: h, Y: chartHeight - h, LH: lh, LY: chartHeight - lh})
	}
	for k, n := range u.Keys {
		d.Keys = append(d.Keys, keyCount{k, n})
	}
	sort.Slice(d.Keys, func(i, j int) bool { return d.Keys[i].Count > d.Keys[j].Count })
	if d.Quotas, err = c.quotas(q.r.Context(), q.user.ID); err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	c.render(q, http.StatusOK, "usage.html", view{Title: "Usage", Nav: "usage", Data: d})
}
