"""`python -m hub_ext.service`: run the hub service."""

from __future__ import annotations

from .app import main

main()
