"""Offload paths: confined to the server's root (no '..', no absolute, no symlink escape)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server_ext.offload.paths import PathError, api_path, confine, copy_path


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("../secret.ipynb", "climbs out"),
        ("a/../../b.ipynb", "climbs out"),
        ("/etc/passwd.ipynb", "absolute"),
        ("C:/x.ipynb", "absolute"),
        ("a\\..\\b.ipynb", "character"),
        ("a\0.ipynb", "character"),
        ("notes.txt", "not a notebook"),
        ("", "must name a notebook"),
        (None, "must name a notebook"),
        (3, "must name a notebook"),
    ],
)
def test_bad_paths_are_refused_with_a_sentence(raw: object, words: str) -> None:
    with pytest.raises(PathError) as caught:
        api_path(raw)
    assert words in str(caught.value)
    assert caught.value.status == 400


def test_clean_paths_are_normalised() -> None:
    assert api_path("a//./b/analysis.ipynb") == "a/b/analysis.ipynb"
    assert api_path("analysis.ipynb") == "analysis.ipynb"


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.ipynb").write_text("{}")
    (root / "link.ipynb").symlink_to(outside / "secret.ipynb")
    (root / "dir").symlink_to(outside)
    for path in ("link.ipynb", "dir/secret.ipynb"):
        with pytest.raises(PathError) as caught:
            confine(root, api_path(path))
        assert "outside the server's root" in str(caught.value)
        assert caught.value.status == 403


def test_a_symlink_inside_the_root_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "real.ipynb").write_text("{}")
    (tmp_path / "alias.ipynb").symlink_to(tmp_path / "real.ipynb")
    assert confine(tmp_path, "alias.ipynb") == (tmp_path / "real.ipynb").resolve()
    assert confine(tmp_path, "new/not-yet.ipynb") == tmp_path.resolve() / "new/not-yet.ipynb"


def test_the_copy_sits_beside_the_original_and_never_replaces_it() -> None:
    assert copy_path("analysis.ipynb", "infn-t2", "j42") == "analysis.remote-infn-t2-j42.ipynb"
    assert copy_path("w/a.b.ipynb", "site", "j1") == "w/a.b.remote-site-j1.ipynb"
    # names from the service cannot move the copy elsewhere
    assert copy_path("w/a.ipynb", "../../etc", "x/y") == "w/a.remote-etc-x-y.ipynb"
    assert copy_path("w/a.ipynb", "..", "..") == "w/a.remote-x-x.ipynb"
    for original in ("a.ipynb", "d/e.ipynb"):
        assert copy_path(original, "s", "j") != original
    with pytest.raises(PathError):
        copy_path("../a.ipynb", "s", "j")
