"""accelhub's own versions of JupyterHub's pages (``hub_ext/templates/jupyterhub/``).

JupyterHub 6's spawn page prints a refused spawn as ``Error: <message>``, and the HTML
variant its handler passes (``html_error_message``) is not the name the page reads
(``error_html_message``). accelhub's ``spawn.html`` extends JupyterHub's own page and hands
it the refusal as HTML, so it shows the sentence and what to do in the hub's alert style,
without the label. ``use_hub_pages(c)``
puts these templates first in ``c.JupyterHub.template_paths``; every hub the project
configures (the demo, the Helm values, the test hubs) calls it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HUB_PAGES = Path(__file__).resolve().parent / "templates" / "jupyterhub"
# What ours relies on in JupyterHub's spawn.html: the two variables it prints the error from
# (ours blanks the first and fills the second).
REQUIRED = ("error_message", "error_html_message")


def jupyterhub_templates(data_files_path: str | None = None) -> Path:
    """JupyterHub's default template folder (``JupyterHub.data_files_path``/templates)."""
    if data_files_path is None:
        from jupyterhub._data import DATA_FILES_PATH

        data_files_path = DATA_FILES_PATH
    return Path(data_files_path) / "templates"


def hub_page_paths(data_files_path: str | None = None) -> list[str]:
    """The folder of accelhub's pages, or nothing when JupyterHub's own spawn page is missing
    or shaped differently (another JupyterHub version): its pages are then used unchanged."""
    try:
        text = (jupyterhub_templates(data_files_path) / "spawn.html").read_text()
    except OSError:
        return []
    if not all(part in text for part in REQUIRED):
        return []
    return [str(HUB_PAGES)]


def use_hub_pages(c: Any) -> None:
    """Put accelhub's pages before any other template path of the config ``c``."""
    hub = c.JupyterHub
    data_files_path = hub.data_files_path if "data_files_path" in hub else None
    current = list(hub.template_paths) if "template_paths" in hub else []
    ours = [p for p in hub_page_paths(data_files_path) if p not in current]
    hub.template_paths = [*ours, *current]
