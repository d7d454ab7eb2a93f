package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hubchantier/hubgate/upstream/webhooks"
)

// webhookListen runs `hubchantier webhook listen`: a local receiver that
// verifies every delivery (signature and timestamp, docs/webhooks.md) and
// prints one line per verified event, never the body. It answers 204 to a
// verified delivery and 401 otherwise, and exits after --count verified
// deliveries (0: on SIGINT/SIGTERM only). The secret comes from --secret
// or HUB_WEBHOOK_SECRET.
func (c *cli) webhookListen(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("webhook listen", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8765", "address to listen on")
	secret := fs.String("secret", "", "the webhook's whsec_ secret (default $HUB_WEBHOOK_SECRET)")
	count := fs.Int("count", 0, "exit after this many verified deliveries (0: never)")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	if *secret == "" {
		*secret = c.getenv("HUB_WEBHOOK_SECRET")
	}
	if !strings.HasPrefix(*secret, webhooks.SecretPrefix) {
		return usagef("webhook listen needs --secret whsec_… (or HUB_WEBHOOK_SECRET)")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	verified := 0
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err == nil {
			err = webhooks.VerifyRequest(*secret, r.Header, body, time.Now())
		}
		if err != nil {
			fmt.Fprintf(c.stdout, "refused %s: %v\n", r.Header.Get(webhooks.HeaderID), err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct {
			ID, Type string
			Resource struct{ Type, ID string }
		}
		_ = json.Unmarshal(body, &ev)
		w.WriteHeader(http.StatusNoContent)
		mu.Lock()
		defer mu.Unlock()
		verified++
		fmt.Fprintf(c.stdout, "verified %s %s (%s %s)\n", ev.Type, ev.ID, ev.Resource.Type, ev.Resource.ID)
		if *count > 0 && verified >= *count {
			cancel()
		}
	})}
	fmt.Fprintf(c.stderr, "listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
