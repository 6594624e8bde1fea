"""Spawn failures as sentences: what went wrong and what the user can do about it.

JupyterHub renders ``str(exception)`` on its spawn and spawn-pending pages, and its
``SpawnException.__str__`` is a log line (``403 SpawnException(reason=quota): ...``). An
exception's ``jupyterhub_message`` replaces that text everywhere JupyterHub shows it (the
form, the pending page, the progress stream, the REST API), while the log keeps the detail.
Its ``jupyterhub_html_message`` (the same text, escaped) is what the progress page shows
instead of ``Spawn failed: <message>``, and what accelhub's spawn page
(``hub_ext.hub_pages``) shows without JupyterHub's ``Error:`` label.
"""

from __future__ import annotations

import html

from jupyterhub.spawner import SpawnException

# What the user can do, by the failure's reason.
ADVICE = {
    "invalid_options": "Correct it on the form and start again.",
    "quota": (
        "Pick another flavor, stop a server of yours that no longer needs it, "
        "or ask your group's organiser for a larger quota."
    ),
    "user_cap": "Stop one of your other servers that holds one, or pick another flavor.",
    "not_allowed": "Pick another flavor, or ask your group's organiser for access to this one.",
    "reservation": (
        "Pick another flavor, wait for the reservation to end, "
        "or ask the event's organiser to add you to it."
    ),
    "capacity": "Pick another flavor, or try again later.",
    "unknown_flavor": "Pick another flavor, and tell the hub's administrators.",
    "timeout": "Try again later, or pick another flavor.",
    "admission_unavailable": (
        "Try again in a minute; if it keeps happening, tell the hub's administrators."
    ),
    "group_volumes_config": "Tell the hub's administrators; nothing on the form can fix this.",
}
WAIT_ADVICE = "Choose 'Wait in line' to wait for one, or pick another flavor."


class SpawnRefused(SpawnException):
    """A ``SpawnException`` whose user-facing text is ``message`` plus advice, never a repr."""

    def __init__(
        self, message: str, *, reason: str, status_code: int = 400, can_wait: bool = False
    ) -> None:
        sentence = message.strip()
        if sentence and sentence[-1] not in ".!?":
            sentence += "."
        advice = WAIT_ADVICE if can_wait else ADVICE.get(reason, "")
        text = f"{sentence} {advice}".strip()
        super().__init__(text, reason=reason, status_code=status_code)
        self.jupyterhub_message = text
        self.jupyterhub_html_message = html.escape(text)
