"""One-line reasons from Google API errors, as the BigQuery source and sink quote them."""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from spark_job.bigquery.api_errors import service_reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            exceptions.Forbidden("GET https://bigquery.googleapis.com/x/tables/t: Access Denied"),
            "Access Denied",
        ),
        (
            exceptions.BadRequest("POST http://127.0.0.1:9050/q: Unrecognized name: colour"),
            "Unrecognized name: colour",
        ),
        (
            exceptions.Forbidden(
                'PUT https://storage/upload: {"error": {"code": 403, '
                '"message": "bucket \\"b\\" is read-only", "errors": []}}'
            ),
            'bucket "b" is read-only',
        ),
        (
            exceptions.BadRequest('POST https://upload: {"message": "bad \\q escape"}'),
            "bad \\q escape",
        ),
        (exceptions.NotFound("Table p:d.t was not found"), "Table p:d.t was not found"),
    ],
    ids=["request-line", "post-request-line", "json-body", "not-json-escape", "bare"],
)
def test_service_reason_keeps_only_the_services_words(
    error: exceptions.GoogleAPICallError, reason: str
) -> None:
    assert service_reason(error) == reason
