package graphql

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	gg "github.com/graph-gophers/graphql-go"
)

// writeInput holds every create/patch input's members (each input type
// uses some). graph-gophers' Null* types tell a member given as null (a
// patch clears it) from one not given (a patch keeps it).
type writeInput struct {
	Nom           gg.NullString `json:"nom"`
	Adresse       gg.NullString `json:"adresse"`
	Statut        gg.NullString `json:"statut"`
	DateDebut     gg.NullString `json:"date_debut"`
	DateFin       gg.NullString `json:"date_fin"`
	ResponsableID gg.NullID     `json:"responsable_id"`
	Client        gg.NullString `json:"client"`
	Budget        gg.NullFloat  `json:"budget"`
	Description   gg.NullString `json:"description"`
	ChantierID    gg.NullID     `json:"chantier_id"`
	UserID        gg.NullID     `json:"user_id"`
	Date          gg.NullString `json:"date"`
	Heures        gg.NullFloat  `json:"heures"`
	Type          gg.NullString `json:"type"`
	Valide        gg.NullBool   `json:"valide"`
	Commentaire   gg.NullString `json:"commentaire"`
	Categorie     gg.NullString `json:"categorie"`
	Mime          gg.NullString `json:"mime"`
	Taille        gg.NullInt    `json:"taille"`
	Titre         gg.NullString `json:"titre"`
	Gravite       gg.NullString `json:"gravite"`
	Urgent        gg.NullBool   `json:"urgent"`
	RoleChantier  gg.NullString `json:"role_chantier"`
}

// body is the REST JSON body of the input: the members given, null ones
// as null. Ids become JSON integers when they are integers; anything else
// is passed as a string, for REST's validation to refuse with its own words.
func (in *writeInput) body() map[string]any {
	out := map[string]any{}
	v := reflect.ValueOf(in).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := strings.TrimSuffix(t.Field(i).Tag.Get("json"), ",omitempty")
		switch f := v.Field(i).Interface().(type) {
		case gg.NullString:
			if f.Set {
				out[name] = ptrOr(f.Value)
			}
		case gg.NullFloat:
			if f.Set {
				out[name] = ptrOr(f.Value)
			}
		case gg.NullBool:
			if f.Set {
				out[name] = ptrOr(f.Value)
			}
		case gg.NullInt:
			if f.Set {
				out[name] = ptrOr(f.Value)
			}
		case gg.NullID:
			if f.Set {
				if f.Value == nil {
					out[name] = nil
				} else if n, err := strconv.ParseInt(string(*f.Value), 10, 64); err == nil {
					out[name] = n
				} else {
					out[name] = string(*f.Value)
				}
			}
		}
	}
	return out
}

func ptrOr[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

type createArgs struct{ Input writeInput }

type updateArgs struct {
	ID      gg.ID
	Input   writeInput
	IfMatch *string
}

type deleteArgs struct {
	ID      gg.ID
	IfMatch *string
}

// create is POST /api/v1/<resource>.
func create(ctx context.Context, resource string, a createArgs) (*row, error) {
	ans, err := execOf(ctx).call(ctx, http.MethodPost, "/api/v1/"+resource, nil, a.Input.body(), nil)
	if err != nil {
		return nil, err
	}
	return single(ans)
}

// update is PATCH /api/v1/<resource>/<id> (a merge patch) with If-Match.
func update(ctx context.Context, resource string, a updateArgs) (*row, error) {
	sid, err := pathID(a.ID)
	if err != nil {
		return nil, err
	}
	ans, err := execOf(ctx).call(ctx, http.MethodPatch, "/api/v1/"+resource+"/"+sid, nil, a.Input.body(), ifMatch(a.IfMatch))
	if err != nil {
		return nil, err
	}
	return single(ans)
}

// remove is DELETE /api/v1/<resource>/<id> with If-Match; it answers the id.
func remove(ctx context.Context, resource string, a deleteArgs) (gg.ID, error) {
	sid, err := pathID(a.ID)
	if err != nil {
		return "", err
	}
	if _, err := execOf(ctx).call(ctx, http.MethodDelete, "/api/v1/"+resource+"/"+sid, nil, nil, ifMatch(a.IfMatch)); err != nil {
		return "", err
	}
	return a.ID, nil
}

func ifMatch(s *string) map[string]string {
	if s == nil {
		return nil
	}
	return map[string]string{"If-Match": *s}
}

func (root) CreateChantier(ctx context.Context, a createArgs) (*row, error) {
	return create(ctx, "chantiers", a)
}
func (root) UpdateChantier(ctx context.Context, a updateArgs) (*row, error) {
	return update(ctx, "chantiers", a)
}
func (root) DeleteChantier(ctx context.Context, a deleteArgs) (gg.ID, error) {
	return remove(ctx, "chantiers", a)
}
func (root) CreatePointage(ctx context.Context, a createArgs) (*row, error) {
	return create(ctx, "pointages", a)
}
func (root) UpdatePointage(ctx context.Context, a updateArgs) (*row, error) {
	return update(ctx, "pointages", a)
}
func (root) DeletePointage(ctx context.Context, a deleteArgs) (gg.ID, error) {
	return remove(ctx, "pointages", a)
}
func (root) CreateDocument(ctx context.Context, a createArgs) (*row, error) {
	return create(ctx, "documents", a)
}
func (root) UpdateDocument(ctx context.Context, a updateArgs) (*row, error) {
	return update(ctx, "documents", a)
}
func (root) DeleteDocument(ctx context.Context, a deleteArgs) (gg.ID, error) {
	return remove(ctx, "documents", a)
}
func (root) CreateSignalement(ctx context.Context, a createArgs) (*row, error) {
	return create(ctx, "signalements", a)
}
func (root) UpdateSignalement(ctx context.Context, a updateArgs) (*row, error) {
	return update(ctx, "signalements", a)
}
func (root) DeleteSignalement(ctx context.Context, a deleteArgs) (gg.ID, error) {
	return remove(ctx, "signalements", a)
}
func (root) CreateAffectation(ctx context.Context, a createArgs) (*row, error) {
	return create(ctx, "affectations", a)
}
func (root) UpdateAffectation(ctx context.Context, a updateArgs) (*row, error) {
	return update(ctx, "affectations", a)
}
func (root) DeleteAffectation(ctx context.Context, a deleteArgs) (gg.ID, error) {
	return remove(ctx, "affectations", a)
}
