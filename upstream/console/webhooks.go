package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/hubchantier/hubgate/upstream/authz"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/webhooks"
)

// deliveriesPage is how many deliveries the webhook page shows at once.
const deliveriesPage = 25

// hooksData feeds the webhooks pages.
type hooksData struct {
	Hooks      []webhooks.Webhook
	Hook       *webhooks.Webhook // the webhook a detail or confirmation page is about
	Created    *webhooks.Webhook // set once, on the answer to a create or rotate: holds the secret
	Deliveries []events.DeliveryInfo
	NextBefore int64 // the next page of deliveries (0: none)
	Form       hookForm
	Types      []scopeChoice // the event types, as checkboxes
	Max        int
}

// hookForm is the create form as sent, to show it again with an error.
type hookForm struct {
	URL, Description, Patterns string
	All                        bool
}

// hookFlashes are the fixed messages a webhooks redirect may ask for.
var hookFlashes = map[string]string{
	"deleted":     "The webhook was deleted. Its pending deliveries are dropped.",
	"redelivered": "The event was queued for delivery again.",
}

// mayWebhooks reports whether role may manage its own webhooks: the
// permission matrix of the API (authz.Webhooks), not a second copy.
func mayWebhooks(role string, act authz.Action) bool {
	return authz.Allowed(role, authz.Webhooks, act) != authz.None
}

// hookAccess refuses, with the API's rule, a user whose role may not act
// on webhooks, and answers 404 when the console runs without them.
func (c *Console) hookAccess(q *req, act authz.Action) bool {
	if c.d.Webhooks == nil {
		c.message(q, http.StatusNotFound, "Not found", "Webhooks are not enabled on this server.")
		return false
	}
	if !mayWebhooks(q.user.Role, act) {
		c.message(q, http.StatusForbidden, "Forbidden", "Your role cannot manage webhooks.")
		return false
	}
	return true
}

// hookErr answers the errors every webhook action shares; it reports
// whether err was one.
func (c *Console) hookErr(q *req, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, webhooks.ErrNotFound):
		c.message(q, http.StatusNotFound, "Not found", "You have no webhook with that id.")
	case errors.Is(err, webhooks.ErrNoDelivery):
		c.message(q, http.StatusNotFound, "Not found", "That webhook has no delivery with that id.")
	case errors.Is(err, webhooks.ErrConflict):
		c.message(q, http.StatusConflict, "Conflict", "The webhook changed meanwhile. Reload the page and retry.")
	default:
		c.fail(q.w, q.r, err)
	}
	return true
}

// hooks is GET /console/webhooks: the user's endpoints.
func (c *Console) hooks(q *req) {
	if !c.hookAccess(q, authz.Read) {
		return
	}
	c.renderHooks(q, http.StatusOK, nil, hookFlashes[q.r.URL.Query().Get("done")])
}

func (c *Console) renderHooks(q *req, status int, created *webhooks.Webhook, flash string) {
	list, err := c.d.Webhooks.ListOwn(q.r.Context(), q.user.ID)
	if err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	c.render(q, status, "webhooks.html", view{Title: "Webhooks", Nav: "webhooks", Flash: flash,
		Data: hooksData{Hooks: list, Created: created, Max: webhooks.MaxPerUser}})
}

// eventChoices is the event types as checkboxes, checked as in checked.
func eventChoices(checked map[string]bool) []scopeChoice {
	out := make([]scopeChoice, 0, len(events.Types))
	for _, t := range events.Types {
		out = append(out, scopeChoice{Value: t, Checked: checked[t]})
	}
	return out
}

// newHook is GET /console/webhooks/new: the create form.
func (c *Console) newHook(q *req) {
	if !c.hookAccess(q, authz.Create) {
		return
	}
	c.render(q, http.StatusOK, "webhook_new.html", view{Title: "Add webhook", Nav: "webhooks",
		Data: hooksData{Types: eventChoices(nil), Max: webhooks.MaxPerUser}})
}

// createHook is POST /console/webhooks. The answer is the list with the
// signing secret, shown this once (no redirect: no URL ever carries it).
func (c *Console) createHook(q *req) {
	if !c.hookAccess(q, authz.Create) {
		return
	}
	f := q.r.PostForm
	form := hookForm{URL: f.Get("url"), Description: f.Get("description"), Patterns: f.Get("patterns"), All: f.Get("all") == "on"}
	checked := map[string]bool{}
	var patterns []string
	if form.All {
		patterns = append(patterns, "*")
	}
	for _, t := range f["events"] {
		checked[t] = true
		patterns = append(patterns, t)
	}
	patterns = append(patterns, strings.Fields(strings.ReplaceAll(form.Patterns, ",", " "))...)
	hook, err := c.d.Webhooks.CreateOwn(q.r.Context(), q.user.ID, strings.TrimSpace(form.URL), form.Description, patterns)
	again := func(status int, msg string) {
		c.render(q, status, "webhook_new.html", view{Title: "Add webhook", Nav: "webhooks", Error: msg,
			Data: hooksData{Form: form, Types: eventChoices(checked), Max: webhooks.MaxPerUser}})
	}
	if fields, ok := webhooks.InvalidFields(err); ok {
		msgs := make([]string, 0, len(fields))
		for _, fe := range fields {
			msgs = append(msgs, hookLabel(fe[0])+": "+fe[1])
		}
		again(http.StatusBadRequest, strings.Join(msgs, " "))
		return
	}
	if errors.Is(err, webhooks.ErrTooMany) {
		again(http.StatusConflict, "You already hold "+strconv.Itoa(webhooks.MaxPerUser)+" webhooks: delete one first.")
		return
	}
	if c.hookErr(q, err) {
		return
	}
	c.renderHooks(q, http.StatusCreated, &hook, "")
}

// hookLabel is the form label of an API field name.
func hookLabel(f string) string {
	switch f {
	case "url":
		return "URL"
	case "events":
		return "Events"
	case "description":
		return "Description"
	}
	return f
}

// hook is GET /console/webhooks/{id}: the endpoint and its deliveries,
// newest first, ?before=<delivery id> for older ones.
func (c *Console) hook(q *req) {
	if !c.hookAccess(q, authz.Read) {
		return
	}
	var before int64
	if v := q.r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			c.message(q, http.StatusBadRequest, "Bad request", "before must be a delivery id.")
			return
		}
		before = n
	}
	c.renderHook(q, http.StatusOK, nil, before, hookFlashes[q.r.URL.Query().Get("done")])
}

func (c *Console) renderHook(q *req, status int, created *webhooks.Webhook, before int64, flash string) {
	id := q.r.PathValue("id")
	h, err := c.d.Webhooks.Own(q.r.Context(), q.user.ID, id)
	if c.hookErr(q, err) {
		return
	}
	ds, err := c.d.Webhooks.DeliveriesOwn(q.r.Context(), q.user.ID, id, before, deliveriesPage)
	if c.hookErr(q, err) {
		return
	}
	d := hooksData{Hook: &h, Created: created, Deliveries: ds}
	if len(ds) == deliveriesPage {
		d.NextBefore = ds[len(ds)-1].ID
	}
	c.render(q, status, "webhook.html", view{Title: "Webhook " + h.ID, Nav: "webhooks", Flash: flash, Data: d})
}

// rotateHook is POST /console/webhooks/{id}/rotate: a new signing secret,
// shown once; the previous one keeps signing for the overlap.
func (c *Console) rotateHook(q *req) {
	if !c.hookAccess(q, authz.Update) {
		return
	}
	h, err := c.d.Webhooks.RotateOwn(q.r.Context(), q.user.ID, q.r.PathValue("id"))
	if c.hookErr(q, err) {
		return
	}
	c.renderHook(q, http.StatusOK, &h, 0, "")
}

// confirmDeleteHook is GET /console/webhooks/{id}/delete: the confirmation
// page for browsers without JavaScript (the pages open a dialog instead).
func (c *Console) confirmDeleteHook(q *req) {
	if !c.hookAccess(q, authz.Delete) {
		return
	}
	h, err := c.d.Webhooks.Own(q.r.Context(), q.user.ID, q.r.PathValue("id"))
	if c.hookErr(q, err) {
		return
	}
	c.render(q, http.StatusOK, "webhook_delete.html", view{Title: "Delete webhook", Nav: "webhooks", Data: hooksData{Hook: &h}})
}

// deleteHook is POST /console/webhooks/{id}/delete.
func (c *Console) deleteHook(q *req) {
	if !c.hookAccess(q, authz.Delete) {
		return
	}
	if c.hookErr(q, c.d.Webhooks.DeleteOwn(q.r.Context(), q.user.ID, q.r.PathValue("id"))) {
		return
	}
	redirect(q, "webhooks?done=deleted")
}

// redeliver is POST /console/webhooks/{id}/deliveries/{delivery}/redeliver:
// the event is queued again, as a new delivery.
func (c *Console) redeliver(q *req) {
	if !c.hookAccess(q, authz.Update) {
		return
	}
	id := q.r.PathValue("id")
	did, err := strconv.ParseInt(q.r.PathValue("delivery"), 10, 64)
	if err != nil || did <= 0 {
		c.message(q, http.StatusNotFound, "Not found", "That webhook has no delivery with that id.")
		return
	}
	if _, err := c.d.Webhooks.RedeliverOwn(q.r.Context(), q.user.ID, id, did); c.hookErr(q, err) {
		return
	}
	redirect(q, "webhooks/"+id+"?done=redelivered")
}
