"""The storage layer: every table is read and written through named queries here."""
