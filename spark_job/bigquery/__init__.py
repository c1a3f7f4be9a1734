"""The pure-Python BigQuery engine: clients, table ids, the Storage Read data source, load jobs."""
