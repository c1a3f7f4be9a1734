"""What a Google API error says, in the service's own words, for one-line user messages."""

from __future__ import annotations

import json
import re

from google.api_core import exceptions

_JSON_MESSAGE = re.compile(r'"message":\s*"((?:[^"\\]|\\.)*)"')
_REQUEST_LINE = re.compile(r"^(?:GET|POST|PUT|PATCH|DELETE) \S+: ")


def service_reason(error: exceptions.GoogleAPICallError) -> str:
    """The service's message without the request line the REST client puts first.

    An upload's error text holds the whole response body: its JSON ``message`` is taken
    from there (unescaped), so the user sees one sentence rather than a JSON document.
    """
    text = str(error.message)
    match = _JSON_MESSAGE.search(text)
    if match:
        try:
            return json.loads(f'"{match.group(1)}"', strict=False)
        except ValueError:  # not a JSON escape after all: quote it as it stands
            return match.group(1)
    return _REQUEST_LINE.sub("", text)
