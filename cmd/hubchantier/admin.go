package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/domain"
)

// defaultSeedPassword is the demo users' password when neither --password
// nor HUB_SEED_PASSWORD is given.
const defaultSeedPassword = "demo-password"

// seedUsers are the demo accounts created by seed.
var seedUsers = []struct{ email, nom, role string }{
	{"admin@hubchantier.local", "Admin Démo", auth.RoleAdmin},
	{"conducteur@hubchantier.local", "Conducteur Démo", auth.RoleConducteur},
	{"ouvrier@hubchantier.local", "Ouvrier Démo", auth.RoleOuvrier},
}

func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	d, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintln(c.stdout, "migrations applied")
	return nil
}

func (c *cli) seed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	password := fs.String("password", "", "password of the demo users (default $HUB_SEED_PASSWORD or \"demo-password\")")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	if *password == "" {
		*password = c.env("HUB_SEED_PASSWORD", defaultSeedPassword)
	}
	if len(*password) < auth.MinPasswordLen {
		return usagef("seed: --password must be at least %d characters", auth.MinPasswordLen)
	}
	d, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	s, err := auth.New(ctx, d, auth.Options{BcryptCost: c.bcryptCost})
	if err != nil {
		return err
	}
	for _, u := range seedUsers {
		_, err := s.CreateUser(ctx, u.email, *password, u.nom, u.role)
		switch {
		case errors.Is(err, auth.ErrEmailTaken):
			fmt.Fprintf(c.stdout, "user %s exists, kept\n", u.email)
		case err != nil:
			return fmt.Errorf("seed user %s: %w", u.email, err)
		default:
			fmt.Fprintf(c.stdout, "user %s created (%s)\n", u.email, u.role)
		}
	}
	// The cursor key only signs list cursors, which seeding never issues.
	if err := domain.New(d, nil).Seed(ctx); err != nil {
		return fmt.Errorf("seed domain data: %w", err)
	}
	fmt.Fprintln(c.stdout, "demo data seeded")
	return nil
}

func (c *cli) userCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	email := fs.String("email", "", "email address (required)")
	password := fs.String("password", "", "password, at least 8 characters; \"-\" reads it from stdin (required)")
	role := fs.String("role", "", "admin, conducteur or ouvrier (required)")
	nom := fs.String("nom", "", "display name (default: the email's local part)")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	switch {
	case *email == "":
		return usagef("user create: --email is required")
	case *password == "":
		return usagef("user create: --password is required")
	case !auth.ValidRole(*role):
		return usagef("user create: --role must be admin, conducteur or ouvrier")
	}
	if *password == "-" {
		// Reading from stdin keeps the password out of the process list.
		line, err := bufio.NewReader(c.stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read password from stdin: %w", err)
		}
		*password = strings.TrimRight(line, "\r\n")
	}
	s, closeDB, err := c.authService(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	u, err := s.CreateUser(ctx, *email, *password, *nom, *role)
	var fe *auth.FieldError
	if errors.As(err, &fe) {
		return usagef("user create: --%s %s", fe.Field, fe.Msg)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	fmt.Fprintf(c.stdout, "user %d created: %s (%s)\n", u.ID, u.Email, u.Role)
	return nil
}

func (c *cli) signingKeyRotate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("signing-key rotate", flag.ContinueOnError)
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	s, closeDB, err := c.authService(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := s.RotateSigningKey(ctx); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "signing key rotated: new tokens use the new key; the old one stays in the JWKS until its tokens expire")
	return nil
}
