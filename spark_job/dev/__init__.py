"""Development tooling only: the local BigQuery and GCS emulators, their TLS front and trust
store, and the jars fetcher of ``make setup``.

Nothing in the job imports this package (``tests/test_layout.py`` checks it), and what it needs
(bqemulator, fake-gcs-server, cryptography) is in the ``test`` extra, never in the image.
"""
