"""Kept for imports written before bridge/store/: the connection lives in bridge.store.db."""
from .store.db import Database, PRIVATE_UMASK, dumps, make_private, now, private_dir, private_files, private_umask  # noqa: F401
from .store.schema import SCHEMA_VERSION  # noqa: F401
