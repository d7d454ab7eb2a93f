package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"

	gg "github.com/graph-gophers/graphql-go"
)

// row is one object of any of the schema's object types (Chantier,
// Pointage, …, PlanningEntry): its REST JSON representation, decoded. One
// Go type serves them all; graph-gophers binds each GraphQL field to the
// method of the same name (date_debut → DateDebut), and a type simply
// never asks for the fields it lacks.
type row struct {
	m   map[string]any
	grp *group // the rows loaded together with this one (loader.go)
}

// decodeRow decodes one REST object; numbers stay json.Number so ids keep
// every digit.
func decodeRow(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

func (r *row) str(name string) string {
	s, _ := r.m[name].(string)
	return s
}

func (r *row) optStr(name string) *string {
	if s, ok := r.m[name].(string); ok {
		return &s
	}
	return nil
}

func (r *row) int64Of(name string) int64 {
	n, _ := r.m[name].(json.Number)
	v, _ := strconv.ParseInt(string(n), 10, 64)
	return v
}

func (r *row) optID(name string) *gg.ID {
	n, ok := r.m[name].(json.Number)
	if !ok {
		return nil
	}
	id := gg.ID(n.String())
	return &id
}

func (r *row) reqID(name string) gg.ID {
	if id := r.optID(name); id != nil {
		return *id
	}
	return ""
}

func (r *row) optFloat(name string) *float64 {
	n, ok := r.m[name].(json.Number)
	if !ok {
		return nil
	}
	f, err := n.Float64()
	if err != nil {
		return nil
	}
	return &f
}

func (r *row) optInt(name string) *int32 {
	n, ok := r.m[name].(json.Number)
	if !ok {
		return nil
	}
	v, err := strconv.ParseInt(string(n), 10, 32)
	if err != nil {
		return nil
	}
	i := int32(v)
	return &i
}

func (r *row) boolOf(name string) bool {
	b, _ := r.m[name].(bool)
	return b
}

// Scalar members, by GraphQL field name.

func (r *row) ID() gg.ID             { return r.reqID("id") }
func (r *row) Nom() string           { return r.str("nom") }
func (r *row) Adresse() *string      { return r.optStr("adresse") }
func (r *row) Statut() string        { return r.str("statut") }
func (r *row) DateDebut() *string    { return r.optStr("date_debut") }
func (r *row) DateFin() *string      { return r.optStr("date_fin") }
func (r *row) ResponsableID() *gg.ID { return r.optID("responsable_id") }
func (r *row) Client() *string       { return r.optStr("client") }
func (r *row) Budget() *float64      { return r.optFloat("budget") }
func (r *row) Description() *string  { return r.optStr("description") }
func (r *row) CreatedAt() string     { return r.str("created_at") }
func (r *row) UpdatedAt() string     { return r.str("updated_at") }
func (r *row) Version() int32        { return int32(r.int64Of("version")) }
func (r *row) Etag() string          { return `"v` + strconv.FormatInt(r.int64Of("version"), 10) + `"` }
func (r *row) ChantierID() gg.ID     { return r.reqID("chantier_id") }
func (r *row) UserID() gg.ID         { return r.reqID("user_id") }
func (r *row) Date() string          { return r.str("date") }
func (r *row) Heures() float64       { return derefF(r.optFloat("heures")) }
func (r *row) Type() string          { return r.str("type") }
func (r *row) Valide() bool          { return r.boolOf("valide") }
func (r *row) Commentaire() *string  { return r.optStr("commentaire") }
func (r *row) Categorie() string     { return r.str("categorie") }
func (r *row) Mime() *string         { return r.optStr("mime") }
func (r *row) Taille() *int32        { return r.optInt("taille") }
func (r *row) Titre() string         { return r.str("titre") }
func (r *row) Gravite() string       { return r.str("gravite") }
func (r *row) Urgent() bool          { return r.boolOf("urgent") }
func (r *row) Email() string         { return r.str("email") }
func (r *row) Role() string          { return r.str("role") }
func (r *row) Active() bool          { return r.boolOf("active") }
func (r *row) RoleChantier() *string { return r.optStr("role_chantier") }
func (r *row) ChantierNom() *string  { return r.optStr("chantier_nom") }
func (r *row) UserNom() *string      { return r.optStr("user_nom") }
func derefF(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

// References and nested lists, loaded for every row of the group at once.

func (r *row) Responsable(ctx context.Context) (*row, error) {
	return r.one(ctx, "users", "responsable_id")
}
func (r *row) Chantier(ctx context.Context) (*row, error) {
	return r.one(ctx, "chantiers", "chantier_id")
}
func (r *row) User(ctx context.Context) (*row, error) { return r.one(ctx, "users", "user_id") }

// firstArgs is the argument of a nested list.
type firstArgs struct{ First int32 }

func (r *row) Affectations(ctx context.Context, a firstArgs) ([]*row, error) {
	return r.children(ctx, "affectations", a.First)
}
func (r *row) Pointages(ctx context.Context, a firstArgs) ([]*row, error) {
	return r.children(ctx, "pointages", a.First)
}
func (r *row) Documents(ctx context.Context, a firstArgs) ([]*row, error) {
	return r.children(ctx, "documents", a.First)
}
func (r *row) Signalements(ctx context.Context, a firstArgs) ([]*row, error) {
	return r.children(ctx, "signalements", a.First)
}
