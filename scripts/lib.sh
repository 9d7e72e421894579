# Shared settings for the djfs scripts. Sourced, not run.
# Everything slow to build or download lives in one cache folder, reused by CI runs
# (which start from a fresh clone on the same machine) and by later sessions.
set -euo pipefail

DJFS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DJFS_CACHE="${DJFS_CACHE:-$HOME/.cache/djfs-dev}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$DJFS_CACHE/target}"

# Pinned real client and the tools the test scripts use.
DJ_PY_REQUIREMENTS=(datajoint==0.14.10 numpy==2.4.6 pillow==12.2.0 imageio==2.38.1)
DJFS_VENV="$DJFS_CACHE/venv-dj0.14.10"
DJFS_PY="$DJFS_VENV/bin/python"
# The DataJoint 2.x client (PostgreSQL through psycopg2, S3 stores through s3fs), in its own
# virtualenv beside the 0.14 one; numpy and pillow pinned as in the 0.14 one.
DJ2_PY_REQUIREMENTS=(datajoint==2.3.5 psycopg2-binary==2.9.13 s3fs==2026.9.0 numpy==2.4.6 pillow==12.2.0)
DJFS_VENV2="$DJFS_CACHE/venv-dj2.3.5"
DJFS_PY2="$DJFS_VENV2/bin/python"

S3S_VERSION=0.14.1
S3S_BIN="$DJFS_CACHE/s3s-fs-$S3S_VERSION/bin/s3s-fs"

# Services: private instances that only djfs's scripts start and stop, loopback only. Everything
# they keep (data, socket, pid files, logs) is under $DJFS_SERVICES; a MariaDB or S3 server that
# already runs on the machine is never read, stopped or reconfigured. Clients of our MariaDB
# always pass --no-defaults and our socket, so /etc/mysql is never read either.
DJFS_SERVICES="${DJFS_SERVICES:-$DJFS_CACHE/services}"
DJFS_DB_HOST=127.0.0.1
DJFS_DB_PORT="${DJFS_DB_PORT:-13306}"
DJFS_DB_DIR="$DJFS_SERVICES/mariadb"
DJFS_DB_DATA="$DJFS_DB_DIR/data"
DJFS_DB_SOCKET="$DJFS_DB_DIR/mariadbd.sock"
DJFS_DB_PID_FILE="$DJFS_DB_DIR/mariadbd.pid"
DJFS_DB_LOG="$DJFS_DB_DIR/mariadbd.log"
DJFS_DB_USER="${DJFS_DB_USER:-djfs_test}"
DJFS_DB_PASS="${DJFS_DB_PASS:-djfs_test_pw}"
DJFS_S3_PORT="${DJFS_S3_PORT:-19000}"
DJFS_S3_ACCESS_KEY="${DJFS_S3_ACCESS_KEY:-datajoint}"
DJFS_S3_SECRET_KEY="${DJFS_S3_SECRET_KEY:-datajoint}"
DJFS_S3_DATA="$DJFS_SERVICES/s3"
# Pid files and logs of the S3 server.
DJFS_RUN="$DJFS_SERVICES/run"
# PostgreSQL 15 (Debian postgresql-15, started with initdb + pg_ctl, never through systemd or
# pg_ctlcluster): data, socket, pid file (data/postmaster.pid) and log in $DJFS_PG_DIR. The server
# may not run as root: when root, it runs as the OS user `postgres`, and when that user cannot reach
# $DJFS_SERVICES (e.g. under /root, mode 0700), $DJFS_PG_DIR is a symlink to a folder of ours
# under /var/lib/djfs-dev (scripts/services-up makes it). DJFS_PG_USER is a password superuser
# (scram-sha-256 over TCP); the DataJoint 2.x schemas live in database DJFS_PG_DATABASE.
DJFS_PG_BIN="${DJFS_PG_BIN:-/usr/lib/postgresql/15/bin}"
DJFS_PG_HOST=127.0.0.1
DJFS_PG_PORT="${DJFS_PG_PORT:-15432}"
DJFS_PG_DIR="${DJFS_PG_DIR:-$DJFS_SERVICES/postgresql}"
DJFS_PG_USER="${DJFS_PG_USER:-djfs_test}"
DJFS_PG_PASS="${DJFS_PG_PASS:-djfs_test_pw}"
DJFS_PG_DATABASE="${DJFS_PG_DATABASE:-djfs_test}"

# Clients of our private MariaDB as its root (unix-socket authentication, as the OS user).
db_root() { mariadb --no-defaults --protocol=socket --socket="$DJFS_DB_SOCKET" -uroot "$@"; }
db_admin() { mariadb-admin --no-defaults --protocol=socket --socket="$DJFS_DB_SOCKET" -uroot "$@"; }

# The pid in pid file $1 (its first line) when that process is alive and its command line contains
# $2 (so that a recycled pid or someone else's server never counts as ours); fails otherwise.
our_pid() {
  local pid
  { read -r pid <"$1" || [[ -n "${pid:-}" ]]; } 2>/dev/null || return 1  # last line may lack its newline
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  local cmdline
  cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
  [[ "$cmdline" == *"$2"* ]] || return 1
  echo "$pid"
}
db_pid() { our_pid "$DJFS_DB_PID_FILE" "--datadir=$DJFS_DB_DATA"; }
s3_pid() { our_pid "$DJFS_RUN/s3s-fs.pid" "$DJFS_S3_DATA"; }
# The OS user our PostgreSQL runs as (it refuses to run as root).
pg_os_user() { if (($(id -u) == 0)); then echo postgres; else id -un; fi; }
# Runs a command as that user (from /, so its working folder is always readable).
as_pg() { if (($(id -u) == 0)); then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
# The real folder of our PostgreSQL (the symlink's target when $DJFS_PG_DIR is one).
pg_real_dir() { readlink -f "$DJFS_PG_DIR"; }
# postmaster.pid's first line when that process is our postgres (its command line names our data).
pg_pid() { local d; d="$(pg_real_dir)" && our_pid "$d/data/postmaster.pid" "-D $d/data"; }
# psql as our server's superuser over its socket (peer authentication), never reading ~/.psqlrc.
pg_root() { as_pg "$DJFS_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pg_real_dir)" -p "$DJFS_PG_PORT" -U "$(pg_os_user)" "$@"; }
# Whether something (anything) accepts connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The unprivileged user the workstation tests mount as (scripts/install creates it).
DJFS_TEST_USER="${DJFS_TEST_USER:-djfsuser}"

log() { printf '[djfs scripts] %s\n' "$*" >&2; }
