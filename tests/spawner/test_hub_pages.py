"""accelhub's spawn page, rendered the way JupyterHub loads its templates, and its fallback."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

import yaml
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
from traitlets.config import Config

from hub_ext.hub_pages import HUB_PAGES, hub_page_paths, jupyterhub_templates, use_hub_pages
from hub_ext.spawner.errors import ADVICE, SpawnRefused
from tests.conftest import REPO_ROOT


def render_spawn_page(template_paths: list[str], **values: Any) -> str:
    """spawn.html as JupyterHub 6 loads it (JupyterHub.init_tornado_settings): its own folder
    under the ``templates/`` prefix, then the configured paths, then its own folder."""
    base = str(jupyterhub_templates())
    loader = ChoiceLoader(
        [
            PrefixLoader({"templates": FileSystemLoader([base])}, "/"),
            FileSystemLoader([*template_paths, base]),
        ]
    )
    env = Environment(loader=loader, autoescape=True)
    context = {"spawner_options_form": '<input name="flavor" value="t4" checked>', "url": "/s"}
    context.update(static_url=lambda *a, **k: "", user=None, for_user=None, **values)
    return env.get_template("spawn.html").render(**context)


def alert(page: str) -> str:
    found = re.search(r'class="spawn-error-msg alert alert-danger">(.*?)</p>', page, re.S)
    assert found, page
    return found.group(1)


def refusal() -> SpawnRefused:
    return SpawnRefused("Flavor <b>t4</b> is only for members of ml-experts", reason="not_allowed")


def test_a_refusal_is_the_sentence_and_advice_in_an_alert_without_the_label() -> None:
    err = refusal()
    page = render_spawn_page(
        [str(HUB_PAGES)],
        error_message=err.jupyterhub_message,
        html_error_message=err.jupyterhub_html_message,  # the name JupyterHub's handler uses
    )
    sentence = f"Flavor <b>t4</b> is only for members of ml-experts. {ADVICE['not_allowed']}"
    assert alert(page) == f'<span class="accelhub-refusal" role="alert">{escape(sentence)}</span>'
    assert "Error:" not in page and 'id="spawn_form"' in page and 'value="t4" checked' in page


def test_jupyterhubs_own_page_shows_the_label() -> None:
    """What accelhub's page replaces (and what a hub falls back to)."""
    err = refusal()
    page = render_spawn_page(
        [], error_message=err.jupyterhub_message, html_error_message=err.jupyterhub_html_message
    )
    assert alert(page).startswith("Error: Flavor &lt;b&gt;t4")


def test_other_errors_are_text_and_no_error_no_alert() -> None:
    page = render_spawn_page([str(HUB_PAGES)], error_message="bob's server is pending <spawn>")
    shown = "bob&#39;s server is pending &lt;spawn&gt;"
    assert alert(page) == f'<span class="accelhub-refusal" role="alert">{shown}</span>'
    quiet = render_spawn_page([str(HUB_PAGES)], error_message=None, html_error_message=None)
    assert "spawn-error-msg" not in quiet and 'role="alert"' not in quiet


def test_use_hub_pages_goes_first_once_and_keeps_other_paths() -> None:
    c = Config()
    c.JupyterHub.template_paths = ["/srv/site-templates"]
    use_hub_pages(c)
    use_hub_pages(c)
    assert c.JupyterHub.template_paths == [str(HUB_PAGES), "/srv/site-templates"]
    fresh = Config()
    use_hub_pages(fresh)
    assert fresh.JupyterHub.template_paths == [str(HUB_PAGES)]


def test_without_jupyterhubs_spawn_page_the_hub_keeps_its_own(tmp_path: Path) -> None:
    """Another JupyterHub whose spawn.html is missing or prints errors from other variables:
    accelhub's page would fail to load or hide the error, so it is not used."""
    assert hub_page_paths(str(tmp_path)) == []
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "spawn.html").write_text("{{ failure_text }}")
    assert hub_page_paths(str(tmp_path)) == []
    c = Config()
    c.JupyterHub.data_files_path = str(tmp_path)
    use_hub_pages(c)
    assert c.JupyterHub.template_paths == []
    assert hub_page_paths() == [str(HUB_PAGES)]  # the installed JupyterHub's page fits


def test_the_demo_and_the_helm_values_use_accelhubs_pages(tmp_path: Path) -> None:
    from hub_ext.demo.config import DemoPorts, hub_config

    text = hub_config(tmp_path, tmp_path / "kubeconfig", DemoPorts.pick(18000), "token")
    demo = Config()
    exec(compile(text, "jupyterhub_config.py", "exec"), {"c": demo})
    assert demo.JupyterHub.template_paths == [str(HUB_PAGES)]
    values = yaml.safe_load((REPO_ROOT / "helm-values" / "values.yaml").read_text())
    chart = Config()
    chart.JupyterHub.template_paths = ["/etc/jupyterhub/templates"]  # an admin's own
    exec(values["hub"]["extraConfig"]["accelhub-pages"], {"c": chart})
    assert chart.JupyterHub.template_paths == [str(HUB_PAGES), "/etc/jupyterhub/templates"]
