"""The storage layer: the SQL of each table group, as named queries."""
