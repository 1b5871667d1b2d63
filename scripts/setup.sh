#!/usr/bin/env bash
# Idempotent setup on a fresh Debian 12 machine: system packages, then the .venv.
# A second run only checks (seconds). Services themselves are installed lazily by
# `sensorwatch services up`; their jars (Kafka, Hadoop, Spark's Kafka source) are resolved from
# Maven Central here, once, into ~/.cache/sensorwatch/jvm (python -m sensorwatch.runtime.jvm);
# CrateDB comes from its release tarball (sensorwatch/services/cratedb.py says where).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
command -v openssl >/dev/null || need_apt+=(openssl)
# pgJDBC: only bench/features_run.py's comparison of bulk writers (the previous path) uses it.
[ -f /usr/share/java/postgresql.jar ] || need_apt+=(libpostgresql-jdbc-java)
# Headless Chromium and its WebDriver: the dashboard's check in a real browser.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# This machine sets PYTHONDONTWRITEBYTECODE=1: compile once at install, or every
# `import pyspark`/`import tensorflow` pays for it again.
export UV_COMPILE_BYTECODE=1

# PySpark is on PyPI as an sdist only, and this network's proxy answers every revalidation as
# "modified": uv then downloads and builds it again on each install, leaving another 1.4 GB in
# its cache every time (measured: 60 copies, 54 GB). So build its wheel once into our own
# wheelhouse and point every install at it (sensorwatch/runtime/package.py uses the same folder).
wheelhouse="${SENSORWATCH_CACHE:-$HOME/.cache/sensorwatch}/wheels"
pyspark_pin=$(grep -o '"pyspark==[^"]*"' pyproject.toml | tr -d '"')
if ! ls "$wheelhouse/pyspark-${pyspark_pin#pyspark==}-"*.whl >/dev/null 2>&1; then
  echo "setup: building the $pyspark_pin wheel once into $wheelhouse"
  python3 -m pip wheel -q --no-deps --no-cache-dir -w "$wheelhouse" "$pyspark_pin" 2>&1 | grep -v "is ignored" || true
  ls "$wheelhouse/pyspark-${pyspark_pin#pyspark==}-"*.whl >/dev/null
fi
export UV_FIND_LINKS="$wheelhouse"

# .venv: the jobs (Spark, TensorFlow, MLflow, ...) and the tests.
# constraints*.txt pin every transitive dependency to what CI had (`make lock` re-pins).
stamp=.venv/.installed
if ! { [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt constraints.txt ]; }; then
  [ -x .venv/bin/python ] || python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
  [ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q uv==0.9.30
  echo "setup: installing Python dependencies into .venv"
  .venv/bin/uv pip install --python .venv/bin/python -q -c constraints.txt wheel setuptools -e ".[dev]"
  .venv/bin/uv pip install --python .venv/bin/python -q -c constraints.txt --no-deps --group evaluator
  touch "$stamp"
fi

# The JVM components, pinned in jvm/*/pom.xml: resolved from Maven Central once (a stamp per
# pom; a second run runs no mvn at all).
.venv/bin/python -m sensorwatch.runtime.jvm
# The Spark driver's class-data archive (AppCDS), once per Java runtime and Spark version: a
# local driver JVM then starts ~4 s sooner (sensorwatch/runtime/class_archive.py).
# Its own lines only (the session's JVM talks on stderr); a failure is a warning, never fatal.
{ .venv/bin/python -m sensorwatch.runtime.class_archive 2>&1 | grep '^setup:'; } || true

# An environment of its own for a dependency group of pyproject.toml (pinned by its
# constraints file), reinstalled when either changes: group_env DIR GROUP CONSTRAINTS [--with-project].
group_env() {
  local dir=$1 group=$2 constraints=$3 stamp=$1/.installed
  if ! { [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt "$constraints" ]; }; then
    [ -x "$dir/bin/python" ] || python3.11 -m venv --without-pip "$dir" 2>/dev/null || python3 -m venv --without-pip "$dir"
    echo "setup: installing the '$group' group into $dir"
    .venv/bin/uv pip install --python "$dir/bin/python" -q -c "$constraints" --group "$group"
    [ "${4:-}" != --with-project ] || .venv/bin/uv pip install --python "$dir/bin/python" -q --no-deps -e .
    touch "$stamp"
  fi
}

# .venv-airflow: Airflow + the Spark provider (its own environment: see pyproject.toml), with
# this project's light modules (config, submit, scheduling) installed without dependencies.
group_env .venv-airflow airflow constraints-airflow.txt --with-project

# .venv-superset: Apache Superset (the BI tool of `sensorwatch dashboard up`), on its own.
group_env .venv-superset superset constraints-superset.txt
