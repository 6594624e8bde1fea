"""Mounts inside another volume (a group area under a home): linked while used, then gone."""

from __future__ import annotations

from pathlib import Path

from devstack.controllers.kubelet_volumes import Volumes

CONTAINER = {
    "volumeMounts": [
        {"name": "home", "mountPath": "/home/jovyan"},
        {"name": "area", "mountPath": "/home/jovyan/shared/physics"},
    ]
}


def pod_volumes(tmp: Path, pod: str, home: Path, area: Path) -> Volumes:
    volumes = Volumes(tmp / pod, tmp / "pvcs")
    volumes.dirs = {"home": home, "area": area}
    return volumes


def test_nested_link_lives_as_long_as_a_pod_uses_it(tmp_path: Path) -> None:
    home, area = tmp_path / "home-pv", tmp_path / "area-pv"
    home.mkdir()
    area.mkdir()
    (area / "data.csv").write_text("1,2\n")
    first = pod_volumes(tmp_path, "pod-a", home, area)
    second = pod_volumes(tmp_path, "pod-b", home, area)
    first.mount(CONTAINER)
    second.mount(CONTAINER)
    link = home / "shared" / "physics"
    assert link.is_symlink() and (link / "data.csv").read_text() == "1,2\n"
    assert (first.rootfs / "home/jovyan/shared/physics/data.csv").exists()
    first.unmount()
    assert link.is_symlink()  # the other pod still uses it
    second.unmount()
    assert not link.exists() and not link.is_symlink()
    assert (area / "data.csv").exists()  # the area's data is never touched


def test_a_users_own_directory_at_the_mount_point_is_kept_aside(tmp_path: Path) -> None:
    home, area = tmp_path / "home-pv", tmp_path / "area-pv"
    (home / "shared" / "physics").mkdir(parents=True)
    (home / "shared" / "physics" / "mine.txt").write_text("mine")
    area.mkdir()
    volumes = pod_volumes(tmp_path, "pod-a", home, area)
    volumes.mount(CONTAINER)
    assert (home / "shared" / "physics").resolve() == area.resolve()
    kept = home / "shared" / "physics.hidden-by-mount" / "mine.txt"
    assert kept.read_text() == "mine"
    volumes.unmount()
