-- Tenants, hashed API keys with roles, the audit log, soft-deleted collections and deletion approvals.
-- Existing collections move to the default tenant; names become unique per tenant (among live collections).

CREATE TABLE tenants (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  name        text NOT NULL,
  -- {"requireDeleteApproval": boolean}
  settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO tenants (id, name) VALUES ('default', 'Default tenant');

CREATE TABLE api_keys (
  -- The visible prefix of the key (rk_XXXXXXXX): safe to log and show.
  id           text PRIMARY KEY,
  -- SHA-256 (hex) of the whole key; the key itself is never stored.
  key_hash     text NOT NULL UNIQUE,
  tenant_id    text NOT NULL REFERENCES tenants(id),
  role         text NOT NULL CHECK (role IN ('admin', 'writer', 'reader')),
  -- Collection names the key may use; NULL means all of its tenant's.
  collections  text[],
  label        text,
  created_by   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz
);

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, created_at);

ALTER TABLE collections ADD COLUMN tenant_id text NOT NULL DEFAULT 'default' REFERENCES tenants(id);
ALTER TABLE collections ADD COLUMN deleted_at timestamptz;
ALTER TABLE collections DROP CONSTRAINT collections_name_key;
-- Partial: a soft-deleted collection does not hold its name (restoring checks for a clash).
CREATE UNIQUE INDEX collections_tenant_name_idx ON collections (tenant_id, name) WHERE deleted_at IS NULL;
CREATE INDEX collections_deleted_idx ON collections (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  tenant_id   text NOT NULL,
  -- Who: the key id (bootstrap:<n>, anonymous, cli:<user>).
  actor       text NOT NULL,
  -- From where: the client address, or "cli".
  client      text NOT NULL,
  action      text NOT NULL,
  target      text NOT NULL,
  details     jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, at DESC);

CREATE TABLE deletion_requests (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id     text NOT NULL REFERENCES tenants(id),
  kind          text NOT NULL CHECK (kind IN ('document')),
  collection_id uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  target_id     uuid NOT NULL,
  requested_by  text NOT NULL,
  state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected')),
  decided_by    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  decided_at    timestamptz
);

CREATE INDEX deletion_requests_tenant_idx ON deletion_requests (tenant_id, state, created_at)
