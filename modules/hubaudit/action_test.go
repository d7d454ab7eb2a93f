package hubaudit

import (
	"testing"

	"github.com/hubchantier/hubgate/modules/hub"
)

// TestDescribeGenericVocabulary: the audit's action names come from the hub
// app's route vocabulary, not from Go: another upstream's resources,
// singulars, singles, groups and verbs name its actions.
func TestDescribeGenericVocabulary(t *testing.T) {
	rt := &hub.Routes{
		Prefix:     "/v",
		Namespaces: []string{"session"},
		Paths:      []*hub.RoutePath{{Path: "/ping", Action: "ping", Type: "probe"}},
		Resources: []*hub.RouteName{
			{Name: "people", Singular: "person"},
			{Name: "orders", Delete: "cancel"},
			{Name: "report", Single: true},
			{Name: "ops", Group: true},
		},
		Words: []*hub.RouteName{{Name: "refund"}, {Name: "whoami", Single: true, Type: "person"}, {Name: "signin", Action: "sign_in", Type: "session"}},
	}
	if err := rt.Provision(); err != nil {
		t.Fatal(err)
	}
	checkDescribe(t, rt, []describeCase{
		{"POST", "/v/v1/people", "/v/v1/people/7", "create_person", "person", "7"},
		{"GET", "/v/v1/people", "", "list_people", "person", ""},
		{"DELETE", "/v/v1/orders/9", "", "cancel_order", "order", "9"},
		{"PUT", "/v/v1/orders/9", "", "update_order", "order", "9"},
		{"POST", "/v/v1/orders/9/refund", "", "refund_order", "order", "9"},
		{"GET", "/v/v1/report", "", "read_report", "", ""},
		{"GET", "/v/v2/ops/orders/3", "", "read_order", "order", "3"},
		{"GET", "/v/session/whoami", "", "read_whoami", "person", ""},
		{"POST", "/v/session/signin", "", "sign_in", "session", ""},
		{"HEAD", "/ping", "", "ping", "probe", ""},
		{"GET", "/v/v1/nope", "", "read_other", "", ""},
		{"GET", "/elsewhere", "", "read_other", "", ""},
	})
	// Without a vocabulary nothing is named after a resource.
	var none *hub.Routes
	if a, typ, _ := describe(none, "POST", none.Template("/api/v1/widgets"), "/api/v1/widgets", ""); a != "create_other" || typ != "" {
		t.Errorf("default vocabulary: %q %q", a, typ)
	}
}
