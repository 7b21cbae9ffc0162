"""The warehouse layer: schema `haier` in DuckDB or Postgres, and bulk, transactional writes into it (`warehouse.py`),
its tables derived from the endpoint declarations (`tables.py`). Knows nothing of HTTP, the API client or Dagster.
"""
