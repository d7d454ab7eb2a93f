// Package dropbox is the Dropbox connector (docs/connectors.md,
// "Dropbox"): each document.created uploads the document's file to
// /Hub-Chantier/{chantier}/{categorie}/ in the customer's Dropbox, through
// the OAuth2 tokens the connect flow stored (upstream/connectors,
// "Connecting with OAuth2"). Files up to the single-request limit go in
// one /2/files/upload; larger ones through an upload session
// (start, append_v2, finish). Disconnecting revokes the token
// (/2/auth/token/revoke).
package dropbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/time/rate"

	"github.com/hubchantier/hubgate/upstream/connectors"
	"github.com/hubchantier/hubgate/upstream/events"
)

// Dropbox's endpoints (https://www.dropbox.com/developers/documentation/http/documentation).
const (
	AuthURL    = "https://www.dropbox.com/oauth2/authorize"
	TokenURL   = "https://api.dropboxapi.com/oauth2/token"
	APIURL     = "https://api.dropboxapi.com"
	ContentURL = "https://content.dropboxapi.com"
)

// SingleUploadLimit is Dropbox's limit of /2/files/upload: 150 MiB; larger
// files need an upload session.
const SingleUploadLimit = 150 << 20

// maxChunk bounds one append of an upload session (memory per upload).
const maxChunk = 8 << 20

// Root is the folder every upload goes under.
const Root = "/Hub-Chantier"

// File is a document's content.
type File interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Content opens the file of document id; an error wrapping os.ErrNotExist
// means the store does not hold it.
type Content func(ctx context.Context, id int64) (File, error)

type osFile struct {
	*os.File
	size int64
}

func (f osFile) Size() int64 { return f.size }

// DirContent reads document id's file from dir/<id> (connectors.Options.DocumentsDir).
func DirContent(dir string) Content {
	return func(_ context.Context, id int64) (File, error) {
		if dir == "" {
			return nil, fmt.Errorf("no document store is configured (connectors.Options.DocumentsDir): %w", os.ErrNotExist)
		}
		f, err := os.Open(filepath.Join(dir, strconv.FormatInt(id, 10)))
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			f.Close()
			return nil, fmt.Errorf("document %d: not a regular file: %w", id, os.ErrNotExist)
		}
		return osFile{f, st.Size()}, nil
	}
}

// revoke revokes token at Dropbox (/2/auth/token/revoke).
func revoke(ctx context.Context, c *http.Client, apiBase, token string) error {
	cl := &client{http: c, api: orDefault(apiBase, APIURL)}
	return cl.rpc(ctx, token, "/2/auth/token/revoke", nil, nil)
}

// NewType returns the Dropbox connector type reading files from content.
func NewType(content Content) connectors.Type {
	return connectors.Type{
		Name:    "dropbox",
		Secrets: []string{connectors.FieldAccessToken, connectors.FieldRefreshToken},
		Events:  []string{events.DocumentCreated},
		Jobs:    []string{},
		// Dropbox publishes no fixed figure; it answers 429 with
		// Retry-After (honoured). 10 calls/s per connector is well within
		// what it accepts from one user.
		Rate:  rate.Limit(10),
		Burst: 10,
		OAuth: &connectors.OAuth{
			AuthURL:    AuthURL,
			TokenURL:   TokenURL,
			AuthParams: map[string]string{"token_access_type": "offline"},
			Revoke:     revoke,
		},
		Validate: connectors.ValidateWith(parse),
		New: connectors.NewWith(parse, func(c *Connector, env connectors.Env) error {
			if env.Token == nil {
				return errors.New("dropbox needs the OAuth2 token manager")
			}
			c.env, c.content = env, content
			c.client = &client{http: env.HTTP, api: c.apiURL, content: c.contentURL, limit: c.limit, token: env.Token}
			return nil
		}),
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// parse reads a configuration: api_url, content_url (defaults Dropbox's;
// a stand-in's api_url serves both), upload_limit_bytes (default
// SingleUploadLimit), root (default /Hub-Chantier).
func parse(cfg map[string]any, env connectors.Env) (*Connector, error) {
	c := &Connector{apiURL: APIURL, contentURL: ContentURL, limit: SingleUploadLimit, root: Root}
	if v := connectors.String(cfg, "api_url"); v != "" {
		if err := connectors.CheckURL("api_url", v, env); err != nil {
			return nil, err
		}
		c.apiURL, c.contentURL = v, v
	}
	if v := connectors.String(cfg, "content_url"); v != "" {
		if err := connectors.CheckURL("content_url", v, env); err != nil {
			return nil, err
		}
		c.contentURL = v
	}
	if v, ok := cfg["upload_limit_bytes"]; ok && v != nil {
		n, ok := v.(float64)
		if !ok || n < 1 || n > SingleUploadLimit || n != float64(int64(n)) {
			return nil, fmt.Errorf("upload_limit_bytes must be an integer from 1 to %d", SingleUploadLimit)
		}
		c.limit = int64(n)
	}
	if v := connectors.String(cfg, "root"); v != "" {
		if v[0] != '/' || len(v) > 200 {
			return nil, errors.New("root must be an absolute Dropbox folder path (/…)")
		}
		c.root = v
	}
	if connectors.String(cfg, connectors.FieldAccessToken) == "" {
		return nil, errors.New("dropbox is connected through /api/v1/integrations/dropbox/connect, which stores its tokens")
	}
	return c, nil
}
