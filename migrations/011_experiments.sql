-- Named, versioned configurations per collection, experiments that split traffic between them,
-- and the trace columns that say which configuration (and model tier) served each request.

-- Every change is a new row: versions of one name are immutable and numbered from 1.
CREATE TABLE collection_configs (
  collection_id uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  name          text NOT NULL,
  version       integer NOT NULL CHECK (version >= 1),
  -- {retrieval, generation, policy}: see answer/collection-config.ts
  settings      jsonb NOT NULL,
  note          text,
  created_by    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection_id, name, version)
);

-- The one active configuration of a collection: a name; its newest version applies.
CREATE TABLE collection_active_configs (
  collection_id uuid PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
  name          text NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE experiments (
  collection_id uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  name          text NOT NULL,
  -- [{config, percent}], percents summing to 100, in the order given (the first is the baseline).
  variants      jsonb NOT NULL,
  state         text NOT NULL CHECK (state IN ('running', 'stopped')),
  winner        text,
  started_by    text,
  started_at    timestamptz NOT NULL DEFAULT now(),
  stopped_at    timestamptz,
  PRIMARY KEY (collection_id, name)
);

-- At most one running experiment per collection.
CREATE UNIQUE INDEX experiments_one_running_idx ON experiments (collection_id) WHERE state = 'running';

ALTER TABLE request_traces ADD COLUMN config_name text;
ALTER TABLE request_traces ADD COLUMN config_version integer;
ALTER TABLE request_traces ADD COLUMN experiment text;
ALTER TABLE request_traces ADD COLUMN variant text;
-- {tier: small|strong, reason, signals, strongModel, strongCostUsd} when model routing chose the generator.
ALTER TABLE request_traces ADD COLUMN routing jsonb;

CREATE INDEX request_traces_experiment_idx ON request_traces (collection_id, experiment) WHERE experiment IS NOT NULL;
