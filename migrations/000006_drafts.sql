-- Publishing for loyalty managers: drafts beside the published versions, scheduled
-- publications, and a change log that says who changed what, when and why.

-- A version says why it was published and where it came from. Versions stay append-only
-- (000001), so these are written once, with the version.
ALTER TABLE program_versions ADD COLUMN reason text CHECK (char_length(reason) <= 1000);
ALTER TABLE program_versions ADD COLUMN origin text NOT NULL DEFAULT 'put'
  CHECK (origin IN ('create', 'put', 'draft', 'rollback', 'schedule'));
ALTER TABLE program_versions ADD COLUMN draft_id text;
ALTER TABLE program_versions ADD COLUMN rollback_of integer;
ALTER TABLE program_versions ADD CONSTRAINT program_versions_rollback
  CHECK ((origin = 'rollback') = (rollback_of IS NOT NULL));

-- A draft holds a document as last saved, valid or not: a manager saves work in progress and
-- validates when ready. `revision` counts saves, so two editors cannot overwrite each other
-- unnoticed. A published draft is kept, read-only, naming the version it became.
CREATE TABLE program_drafts (
  program_id text NOT NULL REFERENCES programs (id),
  id text NOT NULL,
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  document jsonb NOT NULL,
  base_version integer NOT NULL,
  revision integer NOT NULL DEFAULT 1 CHECK (revision > 0),
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'scheduled', 'published', 'discarded')),
  published_version integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL,
  PRIMARY KEY (program_id, id),
  CHECK ((status = 'published') = (published_version IS NOT NULL))
);
CREATE INDEX program_drafts_open ON program_drafts (program_id, id) WHERE status IN ('open', 'scheduled');

-- A publication set to take effect at a future instant. Its document is validated and frozen
-- when it is scheduled; it gets its version number when it takes effect, so numbers follow the
-- order in which versions came into force.
CREATE TABLE program_publications (
  program_id text NOT NULL REFERENCES programs (id),
  id text NOT NULL,
  draft_id text NOT NULL,
  document jsonb NOT NULL,
  effective_at timestamptz NOT NULL,
  reason text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 1000),
  status text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'published', 'cancelled')),
  version integer,
  settled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  PRIMARY KEY (program_id, id),
  CHECK ((status = 'published') = (version IS NOT NULL)),
  CHECK ((status = 'scheduled') = (settled_at IS NULL))
);
-- The job that applies due publications reads only the waiting ones, by instant.
CREATE INDEX program_publications_due ON program_publications (effective_at) WHERE status = 'scheduled';

-- Every change to a program's rules, in order: the audit trail a manager reads back.
CREATE TABLE program_changes (
  program_id text NOT NULL REFERENCES programs (id),
  id text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL CHECK (action IN (
    'version.published', 'draft.created', 'draft.updated', 'draft.discarded',
    'publication.scheduled', 'publication.cancelled')),
  reason text CHECK (char_length(reason) <= 1000),
  version integer,
  draft_id text,
  publication_id text,
  PRIMARY KEY (program_id, id)
);
CREATE TRIGGER program_changes_append_only BEFORE UPDATE OR DELETE ON program_changes
  FOR EACH ROW EXECUTE FUNCTION patron_forbid_change();
CREATE TRIGGER program_changes_no_truncate BEFORE TRUNCATE ON program_changes
  FOR EACH STATEMENT EXECUTE FUNCTION patron_forbid_change();
