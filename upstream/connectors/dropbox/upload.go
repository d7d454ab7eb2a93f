package dropbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/hubchantier/hubgate/upstream/connectors"
	"github.com/hubchantier/hubgate/upstream/events"
)

// Connector is one connected Dropbox account.
type Connector struct {
	apiURL, contentURL string
	limit              int64
	root               string
	env                connectors.Env
	content            Content
	client             *client
}

// Test implements connectors.Connector: /2/users/get_current_account.
func (c *Connector) Test(ctx context.Context) error {
	return c.client.call(ctx, c.apiURL+"/2/users/get_current_account", nil, nil, nil)
}

// Sync implements connectors.Connector: Dropbox takes no scheduled job.
func (c *Connector) Sync(context.Context, connectors.Run) (connectors.Result, error) {
	return connectors.Result{}, nil
}

// document is the data of document.created (docs/events.md).
type document struct {
	ID         int64  `json:"id"`
	ChantierID int64  `json:"chantier_id"`
	Nom        string `json:"nom"`
	Categorie  string `json:"categorie"`
}

// HandleEvent implements connectors.Connector: document.created uploads
// the document's file.
func (c *Connector) HandleEvent(ctx context.Context, ev events.Stored) error {
	if ev.Type != events.DocumentCreated {
		return nil
	}
	var env struct {
		Data document `json:"data"`
	}
	if err := json.Unmarshal(ev.Payload, &env); err != nil || env.Data.ID == 0 {
		return connectors.Permanent("event %s: not a document", ev.ID)
	}
	d := env.Data
	var chantier string
	if err := c.env.DB.QueryRow(ctx, `SELECT nom FROM chantiers WHERE id = ?`, d.ChantierID).Scan(&chantier); err != nil {
		chantier = "chantier " + strconv.FormatInt(d.ChantierID, 10)
	}
	f, err := c.content(ctx, d.ID)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return connectors.Permanent("document %d: its file is not in the document store", d.ID)
		}
		return fmt.Errorf("document %d: %w", d.ID, err)
	}
	defer f.Close()
	return c.Upload(ctx, PathFor(c.root, chantier, d.Categorie, d.Nom, d.ID), f)
}

// PathFor is where document id goes:
// {root}/{chantier}/{categorie}/{nom without extension} ({id}){extension},
// each segment sanitized. The id makes the name unique per document, so
// a re-delivery finds its own earlier upload.
func PathFor(root, chantier, categorie, nom string, id int64) string {
	nom = Sanitize(nom)
	ext := path.Ext(nom)
	if len(ext) > 16 || ext == nom {
		ext = ""
	}
	base := strings.TrimSuffix(nom, ext)
	name := Sanitize(base + " (" + strconv.FormatInt(id, 10) + ")" + ext)
	return strings.TrimRight(root, "/") + "/" + Sanitize(chantier) + "/" + Sanitize(categorie) + "/" + name
}

// Sanitize makes s one safe Dropbox path segment: no slash, backslash,
// control character or character Windows refuses (<>:"|?*), no leading
// or trailing space or dot, at most 120 characters, never empty.
func Sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsControl(r), strings.ContainsRune(`/\<>:"|?*`, r), r == unicode.ReplacementChar:
			b.WriteRune('_')
		case unicode.IsSpace(r):
			b.WriteRune(' ')
		default:
			b.WriteRune(r)
		}
	}
	out := strings.Trim(b.String(), " .")
	if r := []rune(out); len(r) > 120 {
		out = strings.Trim(string(r[:120]), " .")
	}
	if out == "" {
		return "_"
	}
	return out
}

// commit is Dropbox's CommitInfo: add, never overwrite, never rename.
type commit struct {
	Path       string `json:"path"`
	Mode       string `json:"mode"`
	Autorename bool   `json:"autorename"`
	Mute       bool   `json:"mute"`
}

// Upload puts f at dst: one /2/files/upload up to the connector's limit,
// else an upload session. A file already at dst (path/conflict: a
// re-delivery of the same document) counts as uploaded.
func (c *Connector) Upload(ctx context.Context, dst string, f File) error {
	ci := commit{Path: dst, Mode: "add", Autorename: false, Mute: true}
	size := f.Size()
	var err error
	if size <= c.limit {
		buf := make([]byte, size)
		if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		err = c.client.call(ctx, c.contentURL+"/2/files/upload", ci, buf, nil)
	} else {
		err = c.session(ctx, ci, f, size)
	}
	if isSummary(err, "path/conflict") {
		return nil
	}
	var e *apiError
	if errors.As(err, &e) && e.Status == 409 {
		return connectors.Permanent("%s", e.Error())
	}
	return err
}

// session uploads f in chunks of at most min(limit, 8 MiB):
// upload_session/start with the first chunk, append_v2 with the next,
// finish with the last and the commit. A failed session restarts from
// the beginning when the delivery is retried.
func (c *Connector) session(ctx context.Context, ci commit, f File, size int64) error {
	chunk := min(c.limit, maxChunk)
	read := func(off int64) ([]byte, error) {
		n := min(chunk, size-off)
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return buf, nil
	}
	first, err := read(0)
	if err != nil {
		return err
	}
	var started struct {
		SessionID string `json:"session_id"`
	}
	if err := c.client.call(ctx, c.contentURL+"/2/files/upload_session/start", map[string]any{"close": false}, first, &started); err != nil {
		return err
	}
	off := int64(len(first))
	for {
		buf, err := read(off)
		if err != nil {
			return err
		}
		cursor := map[string]any{"session_id": started.SessionID, "offset": off}
		if off+int64(len(buf)) >= size {
			return c.client.call(ctx, c.contentURL+"/2/files/upload_session/finish", map[string]any{"cursor": cursor, "commit": ci}, buf, nil)
		}
		err = c.client.call(ctx, c.contentURL+"/2/files/upload_session/append_v2", map[string]any{"cursor": cursor, "close": false}, buf, nil)
		if err != nil {
			return err
		}
		off += int64(len(buf))
	}
}
