#!/usr/bin/env bash
# Installs the pgvector extension (>= 0.8, for hnsw.iterative_scan) into the local PostgreSQL server,
# the Debian way: the source package from a newer Debian suite, built against this server.
#
# Debian bookworm has no pgvector binary for PostgreSQL 15, so we read the archive address from this
# machine's own apt sources, point apt at a *temporary* deb-src list for a suite that carries
# pgvector >= 0.8 (trixie), and build it. The system's apt sources and lists are never modified.
#
# Idempotent: when vector >= 0.8 is already installed it skips straight to the cheap checks
# (server running, test database present, extension created in it).
#
# Environment:
#   RAGLINE_TEST_DB    database to create with the extension (default ragline_test)
#   PG_MAJOR           PostgreSQL major version (default: the first cluster pg_lsclusters lists)
#   PGVECTOR_SUITES    Debian suites to try for the source, in order (default: "trixie forky sid")
set -euo pipefail

MIN_VERSION=0.8.0
TEST_DB=${RAGLINE_TEST_DB:-ragline_test}
SUITES=${PGVECTOR_SUITES:-trixie forky sid}

log() { printf '[install-pgvector] %s\n' "$*"; }
die() { printf '[install-pgvector] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and builds into the PostgreSQL tree)"
command -v pg_lsclusters >/dev/null || die "pg_lsclusters not found: install postgresql first"

if [[ -z ${PG_MAJOR:-} ]]; then
  PG_MAJOR=$(pg_lsclusters --no-header | awk 'NR == 1 { print $1 }')
  [[ -n $PG_MAJOR ]] || die "no PostgreSQL cluster found (pg_lsclusters is empty)"
fi
CLUSTER=$(pg_lsclusters --no-header | awk -v v="$PG_MAJOR" '$1 == v { print $2; exit }')
PORT=$(pg_lsclusters --no-header | awk -v v="$PG_MAJOR" '$1 == v { print $3; exit }')
[[ -n $CLUSTER ]] || die "no PostgreSQL $PG_MAJOR cluster found"
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
[[ -x $PG_CONFIG ]] || die "$PG_CONFIG not found: is postgresql-$PG_MAJOR installed?"

started=$SECONDS

# Version of the vector extension installed in this server's tree, or empty.
installed_version() {
  local control
  control="$("$PG_CONFIG" --sharedir)/extension/vector.control"
  [[ -f $control && -f "$("$PG_CONFIG" --pkglibdir)/vector.so" ]] || return 0
  sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$control"
}

version_ok() { [[ -n $1 ]] && dpkg --compare-versions "$1" ge "$MIN_VERSION"; }

# Prints "URI<TAB>Signed-By" of the machine's main Debian entry (the one for this release's suite).
debian_archive() {
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [[ -n $codename ]] || die "cannot read VERSION_CODENAME from /etc/os-release"
  local found=""
  shopt -s nullglob
  for file in /etc/apt/sources.list.d/*.sources; do
    # deb822: blank-line separated stanzas of "Field: value" lines.
    found=$(awk -v suite="$codename" '
      function flush() {
        if (!done && enabled != "no" && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "") {
          split(uris, u, " "); print u[1] "\t" signed; done = 1; exit
        }
        types = ""; uris = ""; suites = ""; signed = ""; enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        field = tolower($1); sub(/:$/, "", field)
        value = $0; sub(/^[^:]*:[ \t]*/, "", value)
        if (field == "types") types = value
        else if (field == "uris") uris = value
        else if (field == "suites") suites = value
        else if (field == "signed-by") signed = value
        else if (field == "enabled") enabled = tolower(value)
      }
      END { flush() }' "$file")
    [[ -n $found ]] && break
  done
  if [[ -z $found ]]; then
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -f $file ]] || continue
      # One-line format: deb [options] URI suite components...
      found=$(awk -v suite="$codename" '
        $1 == "deb" {
          i = 2
          if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
          if ($(i + 1) == suite) { print $i "\t"; exit }
        }' "$file")
      [[ -n $found ]] && break
    done
  fi
  shopt -u nullglob
  [[ -n $found ]] || die "no Debian '$codename' entry found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
  printf '%s\n' "$found"
}

install_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    log "build dependencies already installed: $*"
    return
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
    log "install failed; refreshing the system package lists and retrying"
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

build_and_install() {
  local archive uri signed work
  archive=$(debian_archive)
  uri=${archive%%$'\t'*}
  signed=${archive#*$'\t'}
  [[ -z $signed && -f /usr/share/keyrings/debian-archive-keyring.gpg ]] && signed=/usr/share/keyrings/debian-archive-keyring.gpg
  log "Debian archive from this machine's apt sources: $uri"

  work=$(mktemp -d -t install-pgvector.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  chmod 755 "$work"
  mkdir -p "$work/lists/partial" "$work/src"
  # Let apt's unprivileged download user write the files (otherwise apt warns and downloads as root).
  getent passwd _apt >/dev/null && chown _apt "$work/src" "$work/lists/partial"

  # Private apt state: our own source list, lists directory and no binary caches.
  local apt_opts=(
    -o "Dir::Etc::SourceList=$work/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
  )
  local suite="" candidate version=""
  for candidate in $SUITES; do
    printf 'deb-src %s%s %s main\n' "${signed:+[signed-by=$signed] }" "$uri" "$candidate" >"$work/sources.list"
    log "fetching the $candidate source index (temporary, in $work)"
    if ! apt-get "${apt_opts[@]}" update -qq; then
      log "could not fetch the $candidate index; trying the next suite"
      continue
    fi
    version=$(apt-cache "${apt_opts[@]}" showsrc pgvector 2>/dev/null | awk '/^Version:/ { print $2 }' | sort -V | tail -n1)
    if version_ok "$version"; then
      suite=$candidate
      break
    fi
    log "$candidate carries pgvector '${version:-none}', need >= $MIN_VERSION"
  done
  [[ -n $suite ]] || die "no suite among '$SUITES' carries pgvector >= $MIN_VERSION"
  log "using pgvector $version from Debian $suite"

  install_packages "postgresql-server-dev-$PG_MAJOR" build-essential dpkg-dev

  (cd "$work/src" && apt-get "${apt_opts[@]}" source -qq "pgvector=$version")
  local dir
  dir=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)
  [[ -n $dir ]] || die "apt-get source did not unpack pgvector"
  log "building $(basename "$dir") against PostgreSQL $PG_MAJOR"
  make -C "$dir" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
  make -C "$dir" -s install PG_CONFIG="$PG_CONFIG"
}

ensure_server() {
  if ! pg_lsclusters --no-header | awk -v v="$PG_MAJOR" -v c="$CLUSTER" '$1 == v && $2 == c' | grep -q online; then
    log "starting PostgreSQL $PG_MAJOR/$CLUSTER"
    pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" "$CLUSTER" start
  fi
  local i
  for i in $(seq 1 60); do
    pg_isready -q -p "$PORT" && { log "server $PG_MAJOR/$CLUSTER accepting connections on port $PORT"; return; }
    sleep 0.5
  done
  die "PostgreSQL $PG_MAJOR/$CLUSTER is not accepting connections on port $PORT"
}

# psql as the postgres superuser over the local socket (peer auth; works on any Debian install).
# Variables (-v) are interpolated only in SQL read from stdin, so statements come in on stdin.
psql_admin() { (cd / && runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p "$PORT" "$@"); }

ensure_database() {
  local owner exists
  # Owned by the invoking role when it exists (on PostgreSQL 15 only the owner may create in public).
  owner=$(id -un)
  [[ -n $(psql_admin -d postgres -v role="$owner" <<<"SELECT 1 FROM pg_roles WHERE rolname = :'role';") ]] || owner=postgres
  exists=$(psql_admin -d postgres -v db="$TEST_DB" <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
  if [[ -n $exists ]]; then
    log "database $TEST_DB exists"
  else
    psql_admin -d postgres -v db="$TEST_DB" -v owner="$owner" <<<'CREATE DATABASE :"db" OWNER :"owner";'
    log "created database $TEST_DB (owner $owner)"
  fi
  # An extension created by an older build stays at its old version until updated.
  local active
  active=$(psql_admin -d "$TEST_DB" <<<"SET client_min_messages = warning;
    CREATE EXTENSION IF NOT EXISTS vector;
    ALTER EXTENSION vector UPDATE;
    SELECT extversion FROM pg_extension WHERE extname = 'vector';")
  version_ok "$active" || die "vector $active is active in $TEST_DB; need >= $MIN_VERSION"
  log "extension vector $active active in database $TEST_DB"
}

current=$(installed_version)
if version_ok "$current"; then
  log "pgvector $current already installed for PostgreSQL $PG_MAJOR: nothing to build"
else
  if [[ -n $current ]]; then log "pgvector $current is older than $MIN_VERSION; installing"; else log "pgvector is not installed; installing"; fi
  build_and_install
  current=$(installed_version)
  version_ok "$current" || die "after the build, vector.control reports '${current:-nothing}'"
  log "installed pgvector $current into $("$PG_CONFIG" --pkglibdir)"
fi

ensure_server
ensure_database
log "done in $((SECONDS - started)) s"
