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

# Services: loopback only.
DJFS_DB_HOST=127.0.0.1
DJFS_DB_PORT="${DJFS_DB_PORT:-3306}"
DJFS_DB_USER="${DJFS_DB_USER:-djfs_test}"
DJFS_DB_PASS="${DJFS_DB_PASS:-djfs_test_pw}"
DJFS_S3_PORT="${DJFS_S3_PORT:-9000}"
DJFS_S3_ACCESS_KEY="${DJFS_S3_ACCESS_KEY:-datajoint}"
DJFS_S3_SECRET_KEY="${DJFS_S3_SECRET_KEY:-datajoint}"
DJFS_S3_DATA="${DJFS_S3_DATA:-/var/lib/djfs-s3}"
DJFS_RUN="${DJFS_RUN:-/run/djfs-dev}"
# The unprivileged user the workstation tests mount as (scripts/install creates it).
DJFS_TEST_USER="${DJFS_TEST_USER:-djfsuser}"

log() { printf '[djfs scripts] %s\n' "$*" >&2; }
