package domain

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
)

// seedChantier is one demo chantier; start and end are day offsets from
// today so the demo planning is always current.
type seedChantier struct {
	nom, adresse, statut, client, description string
	start, end                                int
	budget                                    float64
}

var seedChantiers = []seedChantier{
	{"Résidence Les Tilleuls", "12 rue des Tilleuls, 69003 Lyon", "en_cours", "Lyon Métropole Habitat", "Construction de 48 logements collectifs R+5 avec parking en sous-sol.", -120, 240, 2450000},
	{"Réhabilitation École Jules Ferry", "5 place de la République, 38000 Grenoble", "en_cours", "Ville de Grenoble", "Désamiantage, isolation par l'extérieur et remplacement des menuiseries.", -60, 90, 1180000},
	{"Extension Clinique Saint-Joseph", "22 boulevard Pasteur, 13005 Marseille", "planifie", "Groupe Hospitalier Saint-Joseph", "Extension de 2 400 m² : bloc opératoire et 30 chambres.", 30, 540, 3200000},
	{"Immeuble de bureaux Le Confluent", "40 cours Charlemagne, 69002 Lyon", "en_cours", "Confluence Promotion", "Bureaux R+7 certifiés HQE, structure mixte bois-béton.", -200, 300, 5600000},
	{"Maison individuelle Durand", "8 chemin des Vignes, 69290 Craponne", "termine", "M. et Mme Durand", "Maison de plain-pied 140 m², ossature bois.", -300, -20, 385000},
	{"Gymnase Pierre de Coubertin", "3 avenue des Sports, 42000 Saint-Étienne", "suspendu", "Ville de Saint-Étienne", "Réfection de la toiture et mise aux normes PMR. Suspendu : attente du permis modificatif.", -90, 120, 1750000},
	{"Rénovation énergétique Résidence du Parc", "17 allée du Parc, 69100 Villeurbanne", "en_cours", "Est Métropole Habitat", "ITE, VMC double flux et chaudières collectives à condensation.", -45, 150, 920000},
	{"Entrepôt logistique Port Édouard-Herriot", "Port Édouard-Herriot, 69007 Lyon", "planifie", "Rhône Logistique SAS", "Plateforme logistique de 12 000 m² avec quais de chargement.", 60, 420, 4100000},
	{"Crèche Les Petits Pas", "9 rue Victor Hugo, 01000 Bourg-en-Bresse", "termine", "Communauté d'agglomération du Bassin de Bourg-en-Bresse", "Crèche de 40 berceaux, bâtiment passif.", -400, -60, 640000},
	{"Parking souterrain Bellecour", "Place Bellecour, 69002 Lyon", "planifie", "Lyon Parc Auto", "Parking de 3 niveaux, 450 places, parois moulées.", 90, 700, 7300000},
}

var seedSignalements = []struct {
	chantier             int
	titre, desc, gravite string
	urgent               bool
	statut               string
}{
	{0, "Garde-corps manquant au R+3", "Protection collective absente en rive de dalle côté cour.", "critique", true, "ouvert"},
	{0, "Fissure sur voile béton", "Fissure de 2 mm sur le voile V12, à faire expertiser.", "haute", false, "en_cours"},
	{1, "Présence d'amiante non repérée", "Dalles vinyle amiantées découvertes en salle 4.", "critique", true, "en_cours"},
	{3, "Retard livraison poutres bois", "Le fournisseur annonce 3 semaines de retard.", "moyenne", false, "ouvert"},
	{3, "Benne à gravats pleine", "Rotation de benne à prévoir.", "faible", false, "resolu"},
	{5, "Infiltration en toiture", "Bâches arrachées par le vent, eau dans la salle principale.", "haute", true, "ouvert"},
	{6, "Échafaudage non conforme", "Plinthes manquantes sur la façade nord.", "haute", false, "ferme"},
	{8, "Réserve : joint de carrelage", "Joint dégradé dans la salle d'eau, levée de réserve.", "faible", false, "resolu"},
}

var seedDocuments = []struct{ nom, categorie, mime string }{
	{"Plan masse.pdf", "plan", "application/pdf"},
	{"Marché de travaux signé.pdf", "contrat", "application/pdf"},
	{"Photo avancement.jpg", "photo", "image/jpeg"},
	{"Compte rendu de chantier.pdf", "rapport", "application/pdf"},
}

// Seed inserts demo data when there is no chantier yet (else it does
// nothing). Rows that need a user (pointages, affectations, responsables)
// use the users that exist and are skipped when there are none; Seed
// creates no user.
func (s *Service) Seed(ctx context.Context) error {
	var n int64
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM chantiers`).Scan(&n); err != nil {
		return fmt.Errorf("seed: count chantiers: %w", err)
	}
	if n > 0 {
		return nil
	}
	staff, err := s.seedUsers(ctx)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed: begin: %w", err)
	}
	defer tx.Rollback()
	sd := &seeder{s: s, tx: tx, ctx: ctx, now: s.now(), today: s.now().UTC().Truncate(24 * time.Hour)}
	sd.at = sd.now.Add(-90 * 24 * time.Hour)
	if err := sd.run(staff); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed: commit: %w", err)
	}
	return nil
}

// seedStaff is the existing users, by role.
type seedStaff struct {
	all, conducteurs []int64
}

func (s *Service) seedUsers(ctx context.Context) (*seedStaff, error) {
	rows, err := s.db.Query(ctx, `SELECT id, role FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("seed: list users: %w", err)
	}
	defer rows.Close()
	st := &seedStaff{}
	for rows.Next() {
		var id int64
		var role string
		if err := rows.Scan(&id, &role); err != nil {
			return nil, err
		}
		st.all = append(st.all, id)
		if role == "conducteur" || role == "admin" {
			st.conducteurs = append(st.conducteurs, id)
		}
	}
	return st, rows.Err()
}

// seeder inserts rows with increasing created_at, so lists have a stable,
// realistic order.
type seeder struct {
	s     *Service
	tx    *sql.Tx
	ctx   context.Context
	now   time.Time
	today time.Time
	at    time.Time
}

func (sd *seeder) day(offset int) string { return sd.today.AddDate(0, 0, offset).Format(time.DateOnly) }

// insert adds a row to table with cols/args plus timestamps and version 1.
func (sd *seeder) insert(table string, cols []string, args ...any) (int64, error) {
	sd.at = sd.at.Add(7 * time.Minute)
	ts := db.Micros(sd.at)
	cols = append(cols, "created_at", "updated_at", "version")
	args = append(args, ts, ts, 1)
	q := `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(cols)-1) + `)`
	id, err := sd.s.db.InsertID(sd.ctx, sd.tx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("insert %s: %w", table, err)
	}
	return id, nil
}

func (sd *seeder) run(staff *seedStaff) error {
	ids := make([]int64, len(seedChantiers))
	for i, c := range seedChantiers {
		var resp any
		if len(staff.conducteurs) > 0 {
			resp = staff.conducteurs[i%len(staff.conducteurs)]
		}
		id, err := sd.insert("chantiers",
			[]string{"nom", "adresse", "statut", "date_debut", "date_fin", "responsable_id", "client", "budget", "description"},
			c.nom, c.adresse, c.statut, sd.day(c.start), sd.day(c.end), resp, c.client, c.budget, c.description)
		if err != nil {
			return err
		}
		ids[i] = id
		for j, d := range seedDocuments[:2+i%3] {
			if _, err := sd.insert("documents", []string{"chantier_id", "nom", "categorie", "mime", "taille"},
				id, d.nom, d.categorie, d.mime, int64(180_000+i*37_000+j*910_000)); err != nil {
				return err
			}
		}
	}
	for _, sg := range seedSignalements {
		if _, err := sd.insert("signalements", []string{"chantier_id", "titre", "description", "gravite", "urgent", "statut"},
			ids[sg.chantier], sg.titre, sg.desc, sg.gravite, sg.urgent, sg.statut); err != nil {
			return err
		}
	}
	if len(staff.all) == 0 {
		return nil
	}
	// Each user works on one active chantier (affectation) and has ten
	// days of pointages there, the older ones validated.
	active := []int{0, 1, 3, 6}
	roles := []string{"chef d'équipe", "maçon", "électricien", "plombier", "coffreur"}
	for u, uid := range staff.all {
		c := active[u%len(active)]
		if _, err := sd.insert("affectations", []string{"chantier_id", "user_id", "date_debut", "date_fin", "role_chantier"},
			ids[c], uid, sd.day(-30), sd.day(60), roles[u%len(roles)]); err != nil {
			return err
		}
		if _, err := sd.insert("affectations", []string{"chantier_id", "user_id", "date_debut", "date_fin", "role_chantier"},
			ids[active[(u+1)%len(active)]], uid, sd.day(61), nil, roles[u%len(roles)]); err != nil {
			return err
		}
		for d := -10; d < 0; d++ {
			typ, h := "normal", 7.5
			switch wd := sd.today.AddDate(0, 0, d).Weekday(); {
			case wd == time.Saturday || wd == time.Sunday:
				typ, h = "weekend", 4
			case d == -3:
				typ, h = "nuit", 6
			}
			if _, err := sd.insert("pointages", []string{"chantier_id", "user_id", "date", "heures", "type", "valide", "commentaire"},
				ids[c], uid, sd.day(d), h, typ, d < -5, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
