// Package graphql holds the Hub Chantier GraphQL schema (schema.graphql),
// embedded for the upstream, which binds its resolvers to it; the gateway
// reads the same file by path (hub_graphql's schema option), so the two
// sides never disagree on it (docs/graphql.md).
package graphql

import _ "embed"

// SDL is the schema, in the GraphQL schema definition language.
//
//go:embed schema.graphql
var SDL string
