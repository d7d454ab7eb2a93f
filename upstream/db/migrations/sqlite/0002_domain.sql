-- Hub Chantier domain: chantiers and what hangs off them.
-- Every table has (created_at, id) for keyset pagination, and
-- (filter, created_at, id) for each main list filter, so that a deep cursor
-- page is one index range scan, like the first page.
-- Time records (pointages) are never deleted by cascade: deleting a chantier
-- or a user that still has pointages fails (RESTRICT).
CREATE TABLE chantiers (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    nom            TEXT    NOT NULL,
    adresse        TEXT,
    statut         TEXT    NOT NULL DEFAULT 'planifie' CHECK (statut IN ('planifie', 'en_cours', 'suspendu', 'termine')),
    date_debut     TEXT,
    date_fin       TEXT,
    responsable_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    client         TEXT,
    budget         REAL CHECK (budget >= 0),
    description    TEXT,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX chantiers_created ON chantiers (created_at, id);
CREATE INDEX chantiers_statut ON chantiers (statut, created_at, id);
CREATE INDEX chantiers_responsable ON chantiers (responsable_id, created_at, id);

CREATE TABLE pointages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chantier_id INTEGER NOT NULL REFERENCES chantiers (id) ON DELETE RESTRICT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    date        TEXT    NOT NULL,
    heures      REAL    NOT NULL CHECK (heures > 0 AND heures <= 24),
    type        TEXT    NOT NULL DEFAULT 'normal' CHECK (type IN ('normal', 'nuit', 'weekend')),
    valide      BOOLEAN NOT NULL DEFAULT 0,
    commentaire TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX pointages_created ON pointages (created_at, id);
CREATE INDEX pointages_chantier ON pointages (chantier_id, created_at, id);
CREATE INDEX pointages_user ON pointages (user_id, created_at, id);
CREATE INDEX pointages_date ON pointages (date, created_at, id);
CREATE INDEX pointages_type ON pointages (type, created_at, id);
CREATE INDEX pointages_valide ON pointages (valide, created_at, id);

CREATE TABLE documents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chantier_id INTEGER NOT NULL REFERENCES chantiers (id) ON DELETE CASCADE,
    nom         TEXT    NOT NULL,
    categorie   TEXT    NOT NULL DEFAULT 'autre' CHECK (categorie IN ('plan', 'contrat', 'photo', 'rapport', 'autre')),
    mime        TEXT,
    taille      BIGINT  CHECK (taille >= 0),
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX documents_created ON documents (created_at, id);
CREATE INDEX documents_chantier ON documents (chantier_id, created_at, id);
CREATE INDEX documents_categorie ON documents (categorie, created_at, id);

CREATE TABLE signalements (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chantier_id INTEGER NOT NULL REFERENCES chantiers (id) ON DELETE CASCADE,
    titre       TEXT    NOT NULL,
    description TEXT,
    gravite     TEXT    NOT NULL DEFAULT 'moyenne' CHECK (gravite IN ('faible', 'moyenne', 'haute', 'critique')),
    urgent      BOOLEAN NOT NULL DEFAULT 0,
    statut      TEXT    NOT NULL DEFAULT 'ouvert' CHECK (statut IN ('ouvert', 'en_cours', 'resolu', 'ferme')),
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX signalements_created ON signalements (created_at, id);
CREATE INDEX signalements_chantier ON signalements (chantier_id, created_at, id);
CREATE INDEX signalements_gravite ON signalements (gravite, created_at, id);
CREATE INDEX signalements_statut ON signalements (statut, created_at, id);
CREATE INDEX signalements_urgent ON signalements (urgent, created_at, id);

CREATE TABLE affectations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    chantier_id   INTEGER NOT NULL REFERENCES chantiers (id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    date_debut    TEXT    NOT NULL,
    date_fin      TEXT,
    role_chantier TEXT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX affectations_created ON affectations (created_at, id);
CREATE INDEX affectations_chantier ON affectations (chantier_id, created_at, id);
CREATE INDEX affectations_user ON affectations (user_id, created_at, id);
CREATE INDEX affectations_dates ON affectations (date_debut, date_fin);

CREATE INDEX users_role ON users (role, created_at, id);
