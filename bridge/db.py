"""Kept for imports written before bridge/store/: the connection lives in bridge.store.db."""
from .store.db import (Database, PRIVATE_UMASK, dumps, make_private, now, private_dir,  # noqa: F401
                       private_files, private_umask)
from .store.schema import SCHEMA_VERSION  # noqa: F401
