package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/hubchantier/hubgate/upstream/audit"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/metrics"
	"github.com/hubchantier/hubgate/upstream/server"
)

// shutdownTimeout bounds how long in-flight requests may take to finish.
const shutdownTimeout = 15 * time.Second

func (c *cli) serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	secret := []byte(c.getenv("HUB_GATEWAY_SECRET"))
	if len(secret) < server.MinSecretLen {
		return fmt.Errorf("HUB_GATEWAY_SECRET must be set to a random value of at least %d bytes, shared with the gateway (e.g. openssl rand -hex 32); refusing to start", server.MinSecretLen)
	}
	publicURL, err := c.publicURL()
	if err != nil {
		return err
	}
	throttle, err := c.loginThrottle()
	if err != nil {
		return err
	}
	evOpts, hookOpts, err := c.eventsConfig()
	introspection, err := c.graphqlIntrospection()
	if err != nil {
		return err
	}
	connKeys, connOpts, jobOpts, err := c.connectorsConfig()
	if err != nil {
		return err
	}
	providers, err := c.consoleProviders()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(c.stderr, nil))

	d, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	// Prometheus metrics (docs/upstream.md, "Metrics"): off unless
	// HUB_METRICS_ADDR is set, on their own listener.
	var m *metrics.Metrics
	if ma := c.getenv("HUB_METRICS_ADDR"); ma != "" {
		m = metrics.New(d.DB)
		if err := m.Register(events.BacklogCollector(d)); err != nil {
			return err
		}
		mln, err := net.Listen("tcp", ma)
		if err != nil {
			return fmt.Errorf("listen for metrics on %s: %w", ma, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	h, _, err := server.New(ctx, server.Config{
		Metrics:       m,
		GatewaySecret: secret,
		AcceptSecret:  []byte(c.getenv("HUB_GATEWAY_SECRET_ACCEPT")),
		Issuer:        c.getenv("HUB_JWT_ISSUER"),
		Audience:      c.getenv("HUB_JWT_AUDIENCE"),
		Logger:        log,
		PublicURL:     publicURL,
		LoginThrottle: throttle,
		Events:        evOpts,
		Webhooks:      hookOpts,
		Dispatch:      true,
		// GraphQL introspection and GraphiQL (docs/graphql.md).
		GraphQLIntrospection: introspection,
		// The gateway's per-key default, for the console's remaining quota.
		DefaultRateLimit: c.env("HUB_RATE_LIMIT", ""),
		UserRateLimit:    c.env("HUB_USER_RATE_LIMIT", ""),
		// "Sign in with Google / GitHub" on the console (docs/console.md).
		ConsoleProviders: providers,
		ConnectorKeys:    connKeys,
		Connectors:       connOpts,
		Jobs:             jobOpts,
		Schedule:         true,
	}, d)
	if err != nil {
		return err
	}
	// Audit retention (docs/audit.md): now, then daily, until shutdown.
	go audit.New(d, nil).RunRetention(ctx, 24*time.Hour, log)
	if pa := c.getenv("HUB_PPROF_ADDR"); pa != "" {
		// Runtime profiles, off by default, loopback only (pprof.go).
		psrv, pln, err := pprofServer(pa)
		if err != nil {
			return err
		}
		go func() { _ = psrv.Serve(pln) }()
		defer psrv.Close()
		log.Info("pprof listening", "addr", pln.Addr().String())
	}
	addr := c.env("HUB_ADDR", defaultAddr)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	// Requests see a base context that ends shortly after shutdown starts,
	// so long-polls of /internal/revocations return instead of holding the
	// shutdown for up to 30 s, while ordinary requests get to finish.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      45 * time.Second, // above the 30 s long-poll limit
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { time.AfterFunc(time.Second, cancelBase) })

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("hubchantier listening", "addr", ln.Addr().String(), "db", string(d.Dialect))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// graphqlIntrospection reads HUB_GRAPHQL_INTROSPECTION: "on" (the
// default, for development) or "off" (production): no __schema/__type
// and no GraphiQL page.
func (c *cli) graphqlIntrospection() (bool, error) {
	switch v := c.env("HUB_GRAPHQL_INTROSPECTION", "on"); v {
	case "on":
		return true, nil
	case "off":
		return false, nil
	default:
		return false, fmt.Errorf("HUB_GRAPHQL_INTROSPECTION must be on or off, not %q", v)
	}
}
