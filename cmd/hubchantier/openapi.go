package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/hubchantier/hubgate/upstream/domain"
)

// openapiCmd prints the OpenAPI 3.1 document of the v1 API, the bytes
// GET /api/openapi.json answers, without a database or a network: `make
// sdk` and the SDK's drift test read it (docs/sdk.md). The v2 document is
// derived by the gateway (hub_version) and is fetched from a running one.
func (c *cli) openapiCmd(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	doc := domain.OpenAPI()
	if _, err := c.stdout.Write(doc); err != nil {
		return err
	}
	_, err := fmt.Fprintln(c.stdout)
	return err
}
