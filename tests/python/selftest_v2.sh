#!/usr/bin/env bash
# Self-test of the DataJoint 2.x test world, usable before djfs can mount PostgreSQL:
#   tests/python/selftest_v2.sh [--no-services-up] [WORKDIR]
# brings the private services up (scripts/install, scripts/services-up; not with --no-services-up,
# e.g. while scripts/test runs: its fault tests stop services on purpose), writes both 2.x reference
# schemas with the real client (djfs_v2_ref on PostgreSQL, djfs_v2_ref_my on MariaDB), shows with
# psql / mariadb that the data is there, exports the tree a mount must show (check_mount_v2.py
# --export), checks that tree (must pass), then alters copies of it one way each (a changed byte,
# a changed scalar, a missing file, an extra file, ...) and checks that every one fails.
# Exits non-zero when anything did not go as expected. WORKDIR (default a new temporary folder)
# keeps the store folder, the configs and the exported trees.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/scripts/lib.sh"
if [[ "${1:-}" == --no-services-up ]]; then
  shift
  pg_pid >/dev/null && db_pid >/dev/null && s3_pid >/dev/null ||
    { log "--no-services-up: the private PostgreSQL, MariaDB and s3s-fs must all be running"; exit 1; }
else
  bash "$ROOT/scripts/install"
  bash "$ROOT/scripts/services-up"
fi

WORK="${1:-$(mktemp -d /tmp/djfs-v2-selftest.XXXXXX)}"
mkdir -p "$WORK"
export DJFS_PY2 DJFS_PG_HOST DJFS_PG_PORT DJFS_PG_USER DJFS_PG_PASS DJFS_PG_DATABASE
export DJFS_DB_HOST DJFS_DB_PORT DJFS_DB_USER DJFS_DB_PASS
export DJFS_S3_ENDPOINT="127.0.0.1:$DJFS_S3_PORT" DJFS_S3_ACCESS_KEY DJFS_S3_SECRET_KEY
PY="$ROOT/tests/python"
PG_SCHEMA=djfs_v2_ref
MY_SCHEMA=djfs_v2_ref_my
quiet() { grep -v -e "UserWarning: No datajoint.json" -e "config = _create_config()" -e "_singleton_connection" \
  -e "MariaDB is not officially supported" || true; }

log "writing $PG_SCHEMA (PostgreSQL) and $MY_SCHEMA (MariaDB) with datajoint 2.3.5 in $WORK"
"$DJFS_PY2" "$PY/make_v2_reference.py" "$PG_SCHEMA" --backend postgresql --store-root "$WORK/store" \
  --config-out "$WORK/pg.json" 2>&1 | quiet
"$DJFS_PY2" "$PY/make_v2_reference.py" "$MY_SCHEMA" --backend mysql --config-out "$WORK/my.json" 2>&1 | quiet

log "what PostgreSQL holds (psql as $DJFS_PG_USER over TCP)"
PGPASSWORD="$DJFS_PG_PASS" "$DJFS_PG_BIN/psql" -X -h "$DJFS_PG_HOST" -p "$DJFS_PG_PORT" -U "$DJFS_PG_USER" \
  -d "$DJFS_PG_DATABASE" -v ON_ERROR_STOP=1 <<SQL
SELECT table_name, obj_description(format('%I.%I', table_schema, table_name)::regclass) AS comment
  FROM information_schema.tables WHERE table_schema = '$PG_SCHEMA' ORDER BY table_name;
SELECT column_name, data_type, udt_name,
       col_description('"$PG_SCHEMA"."blobs"'::regclass, ordinal_position) AS comment
  FROM information_schema.columns WHERE table_schema = '$PG_SCHEMA' AND table_name = 'blobs' ORDER BY ordinal_position;
SELECT obj_id, o_s3 FROM "$PG_SCHEMA"."objects" ORDER BY obj_id;
SQL
log "what MariaDB holds"
MYSQL_PWD="$DJFS_DB_PASS" mariadb --no-defaults -h "$DJFS_DB_HOST" -P "$DJFS_DB_PORT" -u "$DJFS_DB_USER" \
  -e "SELECT table_name, table_rows FROM information_schema.tables WHERE table_schema='$MY_SCHEMA';
      SELECT column_name, column_type, column_comment FROM information_schema.columns
        WHERE table_schema='$MY_SCHEMA' AND table_name='scalars';"

failures=0
expect() {  # expect pass|fail LABEL SCHEMA CONFIG TREE [PATTERN]: run the checker on TREE
  local want="$1" label="$2" schema="$3" config="$4" tree="$5" pattern="${6:-}" out rc=0
  out="$("$DJFS_PY2" "$PY/check_mount_v2.py" "$tree" "$schema" --config "$config" 2>&1 | quiet)" || rc=$?
  local summary
  summary="$(tail -n1 <<<"$out")"
  if [[ "$want" == pass && $rc -eq 0 ]]; then
    log "ok   $label: passes ($summary)"
  elif [[ "$want" == fail && $rc -ne 0 ]] && { [[ -z "$pattern" ]] || grep -q -F -- "$pattern" <<<"$out"; }; then
    log "ok   $label: fails ($summary); first: $(grep -m1 '^FAIL' <<<"$out")"
  else
    log "FAIL $label: expected the checker to $want (exit $rc)"
    printf '%s\n' "$out" | tail -n 20 >&2
    failures=$((failures + 1))
  fi
}

for which in pg my; do
  schema=$PG_SCHEMA
  [[ $which == my ]] && schema=$MY_SCHEMA
  rm -rf "$WORK/export-$which"
  "$DJFS_PY2" "$PY/check_mount_v2.py" --export "$WORK/export-$which" "$schema" --config "$WORK/$which.json" 2>&1 | quiet
  expect pass "the exported tree of $schema" "$schema" "$WORK/$which.json" "$WORK/export-$which"
done

# mutate LABEL SCHEMA WHICH PATTERN COMMAND...: a copy of the export, altered by COMMAND (run in it).
mutate() {
  local label="$1" schema="$2" which="$3" pattern="$4"
  shift 4
  local tree="$WORK/mutated"
  rm -rf "$tree"
  cp -a "$WORK/export-$which" "$tree"
  (cd "$tree" && "$@")
  expect fail "$label" "$schema" "$WORK/$which.json" "$tree" "$pattern"
}
flip_byte() { printf '\xff' | dd of="$1" bs=1 seek="${2:-0}" conv=notrunc status=none; }

mutate "one byte of an <attach@shared> file" $PG_SCHEMA pg "Attachments/att_id=1/doc_s3/archive.data.tar.gz" \
  flip_byte "Attachments/att_id=1/doc_s3/archive.data.tar.gz" 1000
mutate "an in-table <attach> (2.3.5 cannot fetch it)" $PG_SCHEMA pg "Attachments/att_id=1/doc/résumé µ.txt" \
  flip_byte "Attachments/att_id=1/doc/résumé µ.txt" 0
mutate "an int64 scalar" $PG_SCHEMA pg "Scalars/scalar_id=2/i64" \
  sh -c 'echo 9223372036854775806 > Scalars/scalar_id=2/i64'
mutate "a uuid (read by SQL)" $PG_SCHEMA pg "Scalars/scalar_id=1/u" \
  sh -c 'echo 3f2504e0-4f89-11d3-9a0c-0305e82c3302 > Scalars/scalar_id=1/u'
mutate "json text" $PG_SCHEMA pg "Scalars/scalar_id=1/doc" sh -c 'echo "{\"a\": 1}" > Scalars/scalar_id=1/doc'
mutate "bytes" $PG_SCHEMA pg "Scalars/scalar_id=1/raw" sh -c 'printf "\0\1" > Scalars/scalar_id=1/raw'
mutate "a file missing from an <object@shared> folder" $PG_SCHEMA pg "Objects/obj_id=2/o_s3/plots/deeper" \
  rm "Objects/obj_id=2/o_s3/plots/deeper/values.json"
mutate "an extra file in a row" $PG_SCHEMA pg "Blobs/blob_id=1" touch "Blobs/blob_id=1/extra.txt"
mutate "a file for a NULL attribute" $PG_SCHEMA pg "Blobs/blob_id=5" touch "Blobs/blob_id=5/value_s3.npy"
mutate "a NULL object shown as a file" $PG_SCHEMA pg "Objects/obj_id=5/o_local" \
  sh -c 'rmdir Objects/obj_id=5/o_local && touch Objects/obj_id=5/o_local'
mutate "an <npy@shared> of another dtype" $PG_SCHEMA pg "Arrays/arr_id=2/n_s3.npy" \
  "$DJFS_PY2" -c 'import numpy as np; a = np.load("Arrays/arr_id=2/n_s3.npy"); np.save("Arrays/arr_id=2/n_s3.npy", a.astype(np.float32))'
mutate "a <blob@local> .npy with one value changed" $PG_SCHEMA pg "Blobs/blob_id=1/value_local.npy" \
  "$DJFS_PY2" -c 'import numpy as np; p = "Blobs/blob_id=1/value_local.npy"; a = np.load(p); a[0, 0] += 1; np.save(p, a)'
mutate "the .png of an <npy@local> image" $PG_SCHEMA pg "Arrays/arr_id=1/n_local.png" \
  "$DJFS_PY2" -c 'from PIL import Image; p = "Arrays/arr_id=1/n_local.png"; im = Image.open(p).convert("RGB"); im.putpixel((0, 0), (1, 2, 3)); im.save(p)'
mutate "a <hash@local> object" $PG_SCHEMA pg "Hashes/hash_id=1/h_local" sh -c 'echo hello > Hashes/hash_id=1/h_local; echo x >> Hashes/hash_id=1/h_local'
mutate "a .json of a non-array <blob@shared>" $PG_SCHEMA pg "Blobs/blob_id=3/value_s3.json" \
  sh -c 'echo "{}" > Blobs/blob_id=3/value_s3.json'
mutate "a <filepath@local> file" $PG_SCHEMA pg "Filepaths/fp_id=2/fp_local/notes.txt" \
  sh -c 'echo changed > Filepaths/fp_id=2/fp_local/notes.txt'
mutate "the metadata of an add-on codec (<labstack@shared>)" $PG_SCHEMA pg "Plugins/plugin_id=1/stack.json" \
  sed -i 's/"is_dir": true/"is_dir": false/' Plugins/plugin_id=1/stack.json
mutate "an add-on codec's bytes shown as .json" $PG_SCHEMA pg "Plugins/plugin_id=2" \
  mv Plugins/plugin_id=2/note Plugins/plugin_id=2/note.json
mutate "a file of a folder <object@deep> (own prefixes, subfolding)" $PG_SCHEMA pg "Relocated/rel_id=1/obj/summary.txt" \
  sh -c 'echo other > Relocated/rel_id=1/obj/summary.txt'
mutate "a hidden column (_prov) shown" $PG_SCHEMA pg "unexpected ['_prov']" \
  sh -c 'echo "{}" > "Session/lab=neuro,subject_id=1,session_idx=1/_prov"'
mutate "a missing row of a part table" $PG_SCHEMA pg "Recording.Channel" \
  sh -c 'rm -r Recording.Channel/*channel=1'
mutate "a missing table" $PG_SCHEMA pg "missing ['Analysis']" rm -r Analysis
mutate "an in-table <attach> on MariaDB" $MY_SCHEMA my "Blobs/blob_id=3/doc/photo.png" \
  flip_byte "Blobs/blob_id=3/doc/photo.png" 100
mutate "a datetime(3) on MariaDB" $MY_SCHEMA my "Scalars/lab=neuro,scalar_id=1/moment_ms" \
  sh -c 'echo "2026-10-01 13:14:15.124" > "Scalars/lab=neuro,scalar_id=1/moment_ms"'
rm -rf "$WORK/mutated"

if ((failures)); then
  log "selftest_v2: $failures unexpected results (work folder $WORK)"
  exit 1
fi
log "selftest_v2: ok (work folder $WORK; configs $WORK/pg.json, $WORK/my.json)"
