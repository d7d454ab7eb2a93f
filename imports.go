// Package hubgate is the hubgate API gateway suite for Caddy v2. Importing it
// (for example with `xcaddy build --with github.com/hubchantier/hubgate`)
// registers every hubgate module.
package hubgate

import (
	// Every module package of the suite; imports_test.go fails when one is missing.
	_ "github.com/hubchantier/hubgate/modules/hub"
	_ "github.com/hubchantier/hubgate/modules/hubanomaly"
	_ "github.com/hubchantier/hubgate/modules/hubaudit"
	_ "github.com/hubchantier/hubgate/modules/hubauth"
	_ "github.com/hubchantier/hubgate/modules/hubbatch"
	_ "github.com/hubchantier/hubgate/modules/hubbody"
	_ "github.com/hubchantier/hubgate/modules/hubbreaker"
	_ "github.com/hubchantier/hubgate/modules/hubcache"
	_ "github.com/hubchantier/hubgate/modules/hubcors"
	_ "github.com/hubchantier/hubgate/modules/hubetag"
	_ "github.com/hubchantier/hubgate/modules/hubfields"
	_ "github.com/hubchantier/hubgate/modules/hubgraphql"
	_ "github.com/hubchantier/hubgate/modules/hubhealth"
	_ "github.com/hubchantier/hubgate/modules/hubidempotency"
	_ "github.com/hubchantier/hubgate/modules/hubmetrics"
	_ "github.com/hubchantier/hubgate/modules/hubratelimit"
	_ "github.com/hubchantier/hubgate/modules/hubversion"
)
