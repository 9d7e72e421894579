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

# Clients of our private MariaDB as its root (unix-socket authentication, as the OS user).
db_root() { mariadb --no-defaults --protocol=socket --socket="$DJFS_DB_SOCKET" -uroot "$@"; }
db_admin() { mariadb-admin --no-defaults --protocol=socket --socket="$DJFS_DB_SOCKET" -uroot "$@"; }

# The pid in pid file $1 when that process is alive and its command line contains $2 (so that a
# recycled pid or someone else's server never counts as ours); fails otherwise.
our_pid() {
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  local cmdline
  cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
  [[ "$cmdline" == *"$2"* ]] || return 1
  echo "$pid"
}
db_pid() { our_pid "$DJFS_DB_PID_FILE" "--datadir=$DJFS_DB_DATA"; }
s3_pid() { our_pid "$DJFS_RUN/s3s-fs.pid" "$DJFS_S3_DATA"; }
# Whether something (anything) accepts connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The unprivileged user the workstation tests mount as (scripts/install creates it).
DJFS_TEST_USER="${DJFS_TEST_USER:-djfsuser}"

log() { printf '[djfs scripts] %s\n' "$*" >&2; }
