"""All SQL: the connection (db), schema and migrations (schema), and named queries grouped by
what they hold, one module per group of tables. Callers decide transactions; a query that must
join a caller's transaction takes its connection `c`."""
