"""The key a run's staged parts are reused under when its driver is restarted (same run id).

Parts are reused only for the same input (:mod:`spark_job.storage.fingerprint`), the same spec
and model, and the same number of partitions (see :mod:`spark_job.sinks.markers` for why the
partition index then names the same rows). Two inputs are never resumed, and say why:

- ``bigquerySource``: a Storage read session hands out its rows over streams anew on every
  attempt (BigQuery balances them dynamically; the connector reads the same way), so partition
  *k* of one attempt need not hold the rows of partition *k* of the next;
- ``errorHandling.mode: RECORD_AND_CONTINUE``: the instances a reused partition left out, and
  their error records, are counted in accumulators of the attempt that died.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import replace
from pathlib import Path

from spark_job.errors import UserError
from spark_job.sinks.markers import ResumeKey
from spark_job.spec import BigQuerySource, ErrorMode, JobSpec
from spark_job.storage.fingerprint import files_fingerprint

log = logging.getLogger(__name__)

BIGQUERY_SOURCE = (
    "bigquerySource: a BigQuery read session splits the table anew on every attempt, so a"
    " staged part cannot be matched to its rows"
)
RECORDING = (
    "errorHandling.mode RECORD_AND_CONTINUE: the failed instances of the first attempt were"
    " counted there"
)


def _model_digest(model_dir: Path) -> str:
    """Names and sizes of the model's files, and the ``MLmodel`` file's bytes."""
    digest = hashlib.sha256()
    for root, _dirs, files in sorted(os.walk(model_dir)):
        for name in sorted(files):
            path = Path(root, name)
            digest.update(f"{path.relative_to(model_dir)}\0{path.stat().st_size}\n".encode())
    mlmodel = model_dir / "MLmodel"
    if mlmodel.is_file():
        digest.update(mlmodel.read_bytes())
    return digest.hexdigest()


def resume_key(spec: JobSpec, model_dir: Path) -> ResumeKey:
    """Driver, before the input is read: the key of this attempt, without its partition count
    (:func:`with_partitions`), or a refused key saying why nothing can be reused."""
    if isinstance(spec.source, BigQuerySource):
        return ResumeKey(refusal=BIGQUERY_SOURCE)
    if spec.error_handling.mode is ErrorMode.RECORD_AND_CONTINUE:
        return ResumeKey(refusal=RECORDING)
    try:
        files = files_fingerprint(list(spec.source.uris), spec.source_field)
    except UserError:
        raise
    except Exception as error:  # listing failed: reading will tell; nothing reused
        log.warning("cannot fingerprint the input, nothing will be resumed: %s", error)
        return ResumeKey(refusal=f"the input could not be listed ({type(error).__name__})")
    config = hashlib.sha256(repr(spec).encode())
    config.update(_model_digest(Path(model_dir)).encode())
    return ResumeKey(files.digest, config.hexdigest(), files.describe())


def with_partitions(key: ResumeKey, partitions: int) -> ResumeKey:
    return replace(key, partitions=partitions)
