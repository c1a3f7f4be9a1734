"""Secrets never leak: which names hold one, and every place the job writes text (no Spark)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from mlflow.types import ParamSchema, ParamSpec

from spark_job.deploy.manifest import IMAGE_SPARK_CONF, build_manifest
from spark_job.errors import UserError
from spark_job.run.events import emit
from spark_job.run.status import status_document, write_status
from spark_job.scoring.signature import ModelPlan, check_params, describe
from spark_job.spec import parse_spec_text
from spark_job.spec.secrets import (
    MASK,
    SPARK_REDACTION_REGEX,
    find_secrets,
    is_secret,
    mask,
    redact,
    remember,
)

SECRET_NAMES = [
    "gcpAccessToken", "credentials", "credentialsFile", "myApiKey", "api_key", "PASSWORD",
    "spark.hadoop.fs.gs.auth.client.secret", "trustStorePasswd", "oauthToken",
]  # fmt: skip
PLAIN_NAMES = ["project", "parentProject", "temporaryGcsBucket", "filter", "engine", "header"]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name: str) -> None:
    assert is_secret(name)
    assert re.search(SPARK_REDACTION_REGEX, name)  # Spark masks the same names


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_plain_names(name: str) -> None:
    assert not is_secret(name)
    assert not re.search(SPARK_REDACTION_REGEX, name)


def test_mask_and_find() -> None:
    assert mask({"project": "p", "gcpAccessToken": "t0k3n-abc"}) == {
        "project": "p", "gcpAccessToken": MASK,
    }  # fmt: skip
    document = {
        "bigquerySource": {"table": "p.d.t", "options": {"myApiKey": "k-123456", "x": "1"}},
        "model": {"params": {"apiToken": 99887766, "n": 3}},
        "other": [{"password": ["pw-one", "pw-two"]}],
    }
    assert find_secrets(document) == {
        "bigquerySource.options.myApiKey": "k-123456",
        "model.params.apiToken": "99887766",
        "other[0].password[0]": "pw-one",
        "other[0].password[1]": "pw-two",
    }


def test_redact_replaces_remembered_values_longest_first() -> None:
    remember(["SECRET-U1", "SECRET-U1-LONGER", "true", "ab"])  # the last two: too common
    assert redact("a SECRET-U1-LONGER b SECRET-U1") == f"a {MASK} b {MASK}"
    assert redact("true ab") == "true ab"
    assert redact("x SECRET-U2", ["SECRET-U2"]) == f"x {MASK}"


def test_parsing_a_spec_remembers_its_secrets_and_masks_its_errors() -> None:
    text = """
gcsSource: {format: PARQUET, uri: /in, options: {myApiKey: SECRET-U3-VALUE}}
model: {uri: /m}
gcsSink: {format: JSON, uri: /out, save_mode: SECRET-U3-VALUE}
"""
    with pytest.raises(UserError) as raised:
        parse_spec_text(text)
    assert "SECRET-U3-VALUE" not in str(raised.value)
    assert f"gcsSink.save_mode: '{MASK}' is not one of" in str(raised.value)
    assert redact("quoted back: SECRET-U3-VALUE") == f"quoted back: {MASK}"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    remember(["SECRET-U4-VALUE"])
    logger = logging.getLogger("spark_job.tests.secrets")
    with caplog.at_level(logging.DEBUG, logger="spark_job"):
        logger.debug("options: %s", {"token": "SECRET-U4-VALUE"})
        try:
            raise ValueError("bad SECRET-U4-VALUE")
        except ValueError:
            logger.exception("failed")
    assert "SECRET-U4-VALUE" not in caplog.text
    assert MASK in caplog.text


def test_status_file_and_events_are_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remember(['SECRET-"U5'])  # JSON escapes the quote: masked before dumping
    document = status_document("FAILED", "j", "r", error='x SECRET-"U5')
    write_status(str(tmp_path / "s.json"), document)
    assert json.loads((tmp_path / "s.json").read_text())["error"] == f"x {MASK}"
    emit("FAILED", "j", error='x SECRET-"U5')
    out = capsys.readouterr().out
    assert "U5" not in out and json.loads(out)["error"] == f"x {MASK}"


def test_secret_params_are_masked_in_errors_and_listings() -> None:
    schema = ParamSchema([ParamSpec("apiToken", "long", 1), ParamSpec("k", "long", 2)])
    with pytest.raises(UserError) as raised:
        check_params({"apiToken": "SECRET-U6"}, schema)
    assert str(raised.value).startswith(f"model.params.apiToken: {MASK} is not a long")
    assert "SECRET-U6" not in str(raised.value)
    with pytest.raises(UserError, match=r"model.params.k: 'x' is not a long"):
        check_params({"k": "x"}, schema)
    plan = ModelPlan("m", Path("m"), params_schema=schema, params={"apiToken": 123456, "k": 7})
    lines = describe(plan, {"apiToken": 123456})
    assert f"  apiToken: long = {MASK} (model.params)" in lines
    assert "  k: long = 7 (default)" in lines


MANIFEST_SPEC = """\
name: scoring
bigquerySource:
  table: p.d.t
  options: {{{options}}}
model: {{uri: gs://b/model}}
gcsSink: {{format: JSON, uri: gs://b/out}}
"""


def test_the_manifest_refuses_a_spec_holding_a_secret() -> None:
    text = MANIFEST_SPEC.format(options="gcpAccessToken: SECRET-U7-VALUE")
    with pytest.raises(UserError) as raised:
        build_manifest(parse_spec_text(text), text, "scoring", "img:1")
    message = str(raised.value)
    assert message.startswith("bigquerySource.options.gcpAccessToken: the spec holds a secret")
    assert "SECRET-U7-VALUE" not in message
    # A key naming where a secret is (a mounted file) is no secret itself.
    text = MANIFEST_SPEC.format(options="credentialsFile: /mnt/secrets/gcp/key.json")
    config_map, application = build_manifest(parse_spec_text(text), text, "scoring", "img:1")
    assert "/mnt/secrets/gcp/key.json" in config_map["data"]["job.yaml"]
    conf = application["spec"]["sparkConf"]
    assert (
        conf["spark.redaction.regex"]
        == SPARK_REDACTION_REGEX
        == IMAGE_SPARK_CONF["spark.redaction.regex"]
    )
