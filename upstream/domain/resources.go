package domain

// kind is the type of a field, in JSON and in SQL.
type kind int

const (
	kText  kind = iota // JSON string, SQL TEXT
	kEnum              // JSON string from a fixed set
	kDate              // JSON string YYYY-MM-DD, SQL TEXT
	kInt               // JSON integer, SQL BIGINT
	kRef               // JSON integer id of a row of field.ref, SQL BIGINT foreign key
	kFloat             // JSON number, SQL REAL / DOUBLE PRECISION
	kBool              // JSON boolean, SQL BOOLEAN
)

// field describes one column of a resource. The column and the JSON member
// have the same name.
type field struct {
	name     string
	kind     kind
	required bool     // must be present and non-null on POST and PUT
	def      any      // value used when absent on POST/PUT or cleared by null in PATCH
	enum     []string // allowed values of a kEnum
	maxLen   int      // maximum length in characters of a kText (0: no limit)
	min, max *float64 // bounds of a number; minOpen makes min exclusive
	minOpen  bool
	ref      string // referenced table of a kRef
	filter   bool   // usable as ?name= equality filter (an index exists)
	key      string // `,"name":`, the JSON member prefix (init)
}

// check is a cross-field rule run after the per-field rules pass.
type check func(v values) []fieldError

// resource is a table exposed under /api/v1/<name>.
type resource struct {
	name     string // path segment and table name
	singular string // used in messages ("chantier 3 not found")
	fields   []field
	readOnly bool // only GET routes (users)
	checks   []check
	// deleteConflict explains a foreign-key refusal of DELETE (409).
	deleteConflict string
	// cols is columns(""), computed once (init).
	cols string
}

// values holds a row's field values by name: string, int64, float64, bool or
// nil (SQL NULL).
type values map[string]any

func ptr(f float64) *float64 { return &f }

var (
	statutsChantier    = []string{"planifie", "en_cours", "suspendu", "termine"}
	typesPointage      = []string{"normal", "nuit", "weekend"}
	categoriesDocument = []string{"plan", "contrat", "photo", "rapport", "autre"}
	gravites           = []string{"faible", "moyenne", "haute", "critique"}
	statutsSignalement = []string{"ouvert", "en_cours", "resolu", "ferme"}
	roles              = []string{"admin", "conducteur", "ouvrier"}
)

var chantiers = &resource{
	name: "chantiers", singular: "chantier",
	fields: []field{
		{name: "nom", kind: kText, required: true, maxLen: 200},
		{name: "adresse", kind: kText, maxLen: 500},
		{name: "statut", kind: kEnum, enum: statutsChantier, def: "planifie", filter: true},
		{name: "date_debut", kind: kDate},
		{name: "date_fin", kind: kDate},
		{name: "responsable_id", kind: kRef, ref: "users", filter: true},
		{name: "client", kind: kText, maxLen: 200},
		{name: "budget", kind: kFloat, min: ptr(0), max: ptr(1e15)},
		{name: "description", kind: kText, maxLen: 10000},
	},
	checks:         []check{dateOrder("date_debut", "date_fin")},
	deleteConflict: "the chantier still has pointages; delete them first",
}

var pointages = &resource{
	name: "pointages", singular: "pointage",
	fields: []field{
		{name: "chantier_id", kind: kRef, ref: "chantiers", required: true, filter: true},
		{name: "user_id", kind: kRef, ref: "users", required: true, filter: true},
		{name: "date", kind: kDate, required: true, filter: true},
		{name: "heures", kind: kFloat, required: true, min: ptr(0), minOpen: true, max: ptr(24)},
		{name: "type", kind: kEnum, enum: typesPointage, def: "normal", filter: true},
		{name: "valide", kind: kBool, def: false, filter: true},
		{name: "commentaire", kind: kText, maxLen: 2000},
	},
}

var documents = &resource{
	name: "documents", singular: "document",
	fields: []field{
		{name: "chantier_id", kind: kRef, ref: "chantiers", required: true, filter: true},
		{name: "nom", kind: kText, required: true, maxLen: 255},
		{name: "categorie", kind: kEnum, enum: categoriesDocument, def: "autre", filter: true},
		{name: "mime", kind: kText, maxLen: 255},
		{name: "taille", kind: kInt, min: ptr(0)},
	},
}

var signalements = &resource{
	name: "signalements", singular: "signalement",
	fields: []field{
		{name: "chantier_id", kind: kRef, ref: "chantiers", required: true, filter: true},
		{name: "titre", kind: kText, required: true, maxLen: 200},
		{name: "description", kind: kText, maxLen: 10000},
		{name: "gravite", kind: kEnum, enum: gravites, def: "moyenne", filter: true},
		{name: "urgent", kind: kBool, def: false, filter: true},
		{name: "statut", kind: kEnum, enum: statutsSignalement, def: "ouvert", filter: true},
	},
}

var affectations = &resource{
	name: "affectations", singular: "affectation",
	fields: []field{
		{name: "chantier_id", kind: kRef, ref: "chantiers", required: true, filter: true},
		{name: "user_id", kind: kRef, ref: "users", required: true, filter: true},
		{name: "date_debut", kind: kDate, required: true},
		{name: "date_fin", kind: kDate},
		{name: "role_chantier", kind: kText, maxLen: 100},
	},
	checks: []check{dateOrder("date_debut", "date_fin")},
}

// users is exposed read-only; password_hash is simply not a field, so no
// query ever selects it.
var users = &resource{
	name: "users", singular: "user", readOnly: true,
	fields: []field{
		{name: "email", kind: kText},
		{name: "nom", kind: kText},
		{name: "role", kind: kEnum, enum: roles, filter: true},
		{name: "active", kind: kBool},
	},
}

// resources lists every resource served by the generic handlers.
var resources = []*resource{chantiers, pointages, documents, signalements, affectations, users}

func init() {
	for _, r := range resources {
		r.cols = r.columns("")
		for i := range r.fields {
			r.fields[i].key = `,"` + r.fields[i].name + `":`
		}
	}
}

// fieldByName returns the field called name, or nil.
func (r *resource) fieldByName(name string) *field {
	for i := range r.fields {
		if r.fields[i].name == name {
			return &r.fields[i]
		}
	}
	return nil
}

// dateOrder refuses an end date before the start date. Dates are
// YYYY-MM-DD, so string order is date order.
func dateOrder(from, to string) check {
	return func(v values) []fieldError {
		a, _ := v[from].(string)
		b, _ := v[to].(string)
		if a != "" && b != "" && b < a {
			return []fieldError{{Field: to, Message: to + " must not be before " + from}}
		}
		return nil
	}
}
