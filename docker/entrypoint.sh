#!/bin/bash
# The spark_job image's entrypoint.
#
#   docker run IMAGE --job-name NAME --spec-path /path/job.yaml [--local]   # run the job
#   docker run IMAGE python3 -m spark_job manifest --spec-path … --image …  # any command
#
# Arguments that start with "-" (or none: --help) are the job's: they are handed to
# spark-submit with the job's main.py, under tini (signals forwarded, zombies reaped; as the
# official entrypoint runs a Kubernetes driver). Anything else, in particular the "driver …" and
# "executor …" commands with which Spark on Kubernetes (and so spark-operator) starts the
# image's pods, goes to the official Spark image's entrypoint unchanged.
set -euo pipefail

SPARK_JOB_HOME="${SPARK_JOB_HOME:-/opt/spark_job}"
SPARK_IMAGE_ENTRYPOINT="${SPARK_IMAGE_ENTRYPOINT:-/opt/entrypoint.sh}"

if [[ $# -eq 0 || "$1" == -* ]]; then
    set -- /usr/bin/tini -s -- "${SPARK_HOME:-/opt/spark}/bin/spark-submit" \
        "${SPARK_JOB_HOME}/spark_job/main.py" "$@"
fi
exec "${SPARK_IMAGE_ENTRYPOINT}" "$@"
