"""The service's store: tables, migrations, the engine and the repository every change goes
through."""

from .engine import StoreURLError, make_engine, migrate
from .repository import Repository

__all__ = ["Repository", "StoreURLError", "make_engine", "migrate"]
