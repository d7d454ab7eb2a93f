package hub

import "net/http"

// The cost of a request and what a GraphQL request does, in the request
// state: hub_graphql sets them after parsing the operation; hub_rate_limit
// charges the cost instead of 1 and hub_audit records the operation.

// SetCost records how many units of every rate-limit window the request
// consumes (hub_graphql: the operation's cost). Values below 1 count as 1.
func SetCost(r *http.Request, units int64) {
	if s := stateOf(r, true); s != nil {
		s.cost = units
	}
}

// CostOf is the number of units the request consumes: what SetCost
// recorded, else 1.
func CostOf(r *http.Request) int64 {
	if s := stateOf(r, false); s != nil && s.cost > 1 {
		return s.cost
	}
	return 1
}

// GraphQLOperation is what a GraphQL request asks: its operation's name,
// type and root fields (response names are not kept: the field names are).
type GraphQLOperation struct {
	// Name is the operation's name, "" when anonymous.
	Name string `json:"operation_name,omitempty"`
	// Type is query, mutation or subscription.
	Type string `json:"operation_type"`
	// RootFields are the root fields selected, in document order, each
	// once (aliases and fragments resolved).
	RootFields []string `json:"root_fields"`
	// Cost is the operation's cost, as charged to the rate limiter.
	Cost int64 `json:"cost"`
}

// SetGraphQLOperation records the GraphQL operation of the request.
func SetGraphQLOperation(r *http.Request, op *GraphQLOperation) {
	if s := stateOf(r, true); s != nil {
		s.graphql = op
	}
}

// GraphQLOperationOf returns the request's GraphQL operation, or nil when
// it is not a GraphQL request (or hub_graphql has not run).
func GraphQLOperationOf(r *http.Request) *GraphQLOperation {
	if s := stateOf(r, false); s != nil {
		return s.graphql
	}
	return nil
}
