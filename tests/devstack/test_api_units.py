"""Pure functions of the emulator: selectors, patches, cluster files (quantities: tests/unit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.apiserver.errors import ApiError
from devstack.apiserver.patch import json_patch, merge_patch, strategic_merge
from devstack.apiserver.schemas import kind_schema
from devstack.apiserver.selectors import parse_field_selector, parse_label_selector
from devstack.cluster import ClusterError, load_cluster, parse_cluster


def test_label_selectors() -> None:
    sel = parse_label_selector("app=web,tier!=db,env in (prod, staging),!legacy,gpu")
    assert sel.matches({"app": "web", "env": "prod", "gpu": "1"})
    assert not sel.matches({"app": "web", "env": "dev", "gpu": "1"})
    assert not sel.matches({"app": "web", "env": "prod", "gpu": "1", "legacy": "y"})
    assert parse_label_selector("x notin (a)").matches({})
    assert parse_label_selector("a==b").matches({"a": "b"})
    assert parse_label_selector("").matches({"anything": "x"})
    for bad in ("a in (b", "=x", "a=b=c", "a,,b", "bad key=1"):
        with pytest.raises(ApiError) as info:
            parse_label_selector(bad)
        assert info.value.status == 400


def test_field_selectors() -> None:
    sel = parse_field_selector(
        "spec.nodeName=,status.phase!=Failed", ("spec.nodeName", "status.phase")
    )
    assert sel.matches({"spec": {}, "status": {"phase": "Pending"}})
    assert not sel.matches({"spec": {"nodeName": "n"}, "status": {}})
    with pytest.raises(ApiError) as info:
        parse_field_selector("spec.other=1", ("spec.nodeName",))
    assert info.value.message == "field label not supported: spec.other"


def test_strategic_merge_uses_schema_keys() -> None:
    schema = kind_schema("", "v1", "Pod")
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "image": "1",
                    "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                }
            ],
            "volumes": [{"name": "v", "emptyDir": {}}],
        }
    }
    patch = {
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "env": [{"name": "Y", "value": "3"}, {"name": "X", "$patch": "delete"}],
                },
                {"name": "b", "image": "2"},
            ],
            "volumes": [
                {"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}
            ],
        }
    }
    out = strategic_merge(pod, patch, schema)
    assert out["spec"]["containers"] == [
        {"name": "a", "image": "1", "env": [{"name": "Y", "value": "3"}]},
        {"name": "b", "image": "2"},
    ]
    assert out["spec"]["volumes"] == [{"name": "v", "hostPath": {"path": "/x"}}]
    # finalizers merge as a set-like list of primitives; $deleteFromPrimitiveList removes.
    meta = {"metadata": {"finalizers": ["a", "b"]}}
    out = strategic_merge(meta, {"metadata": {"finalizers": ["c"]}}, schema)
    assert out["metadata"]["finalizers"] == ["a", "b", "c"]
    out = strategic_merge(out, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, schema)
    assert out["metadata"]["finalizers"] == ["b", "c"]


def test_merge_and_json_patch() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {
        "a": {"c": 2, "d": 3}
    }
    doc = {"a": [1, 2], "b": {"c/d": 1}}
    out = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/1", "value": 9},
            {"op": "move", "from": "/b/c~1d", "path": "/e"},
            {"op": "copy", "from": "/a", "path": "/f"},
        ],
    )
    assert out == {"a": [1, 9, 2], "b": {}, "e": 1, "f": [1, 9, 2]}
    with pytest.raises(ApiError):
        json_patch(doc, [{"op": "remove", "path": "/missing"}])


def test_default_cluster_file() -> None:
    cluster = load_cluster()
    assert len(cluster.nodes) == 12
    a100s = [g for n in cluster.nodes for g in n.gpus if g.model == "a100-80gb-pcie"]
    assert len(a100s) == 3
    # 21 compute slices in all, one node with the single strategy.
    from devstack.cluster import MIG_PROFILES

    assert sum(MIG_PROFILES[m.profile].gi for g in a100s for m in g.mig) == 21
    assert [n.mig_strategy for n in cluster.nodes if n.gpus and n.gpus[0].mig].count("single") == 1
    models = [g.model for n in cluster.nodes for g in n.gpus]
    assert models.count("t4") == 2 and models.count("rtx5000") == 5
    devices = [d for n in cluster.nodes for d in n.devices()]
    assert all(d["uuid"].startswith(("GPU-", "MIG-")) for d in devices if d["kind"] != "fpga")
    assert len({d["uuid"] for d in devices}) == len(devices)
    virtual = [n for n in cluster.nodes if n.virtual is not None]
    assert len(virtual) == 2
    cpu_only = [n for n in cluster.nodes if not n.gpus and not n.fpgas and n.virtual is None]
    assert len(cpu_only) == 3


def test_cluster_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="unknown GPU model"):
        parse_cluster({"nodes": [{"name": "n", "gpus": [{"model": "h100", "uuid": "GPU-1"}]}]})
    with pytest.raises(ClusterError, match="exceed the seven"):
        parse_cluster(
            {
                "nodes": [
                    {
                        "name": "n",
                        "gpus": [
                            {
                                "model": "a100-80gb-pcie",
                                "uuid": "GPU-1",
                                "mig": [
                                    {"profile": "4g.40gb", "uuid": "MIG-1"},
                                    {"profile": "4g.40gb", "uuid": "MIG-2"},
                                ],
                            }
                        ],
                    }
                ]
            }
        )
    with pytest.raises(ClusterError, match="single MIG strategy"):
        parse_cluster(
            {
                "nodes": [
                    {
                        "name": "n",
                        "migStrategy": "single",
                        "gpus": [
                            {
                                "model": "a100-80gb-pcie",
                                "uuid": "GPU-1",
                                "mig": [
                                    {"profile": "1g.10gb", "uuid": "MIG-1"},
                                    {"profile": "2g.20gb", "uuid": "MIG-2"},
                                ],
                            }
                        ],
                    }
                ]
            }
        )
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [")
    with pytest.raises(ClusterError, match="not valid YAML"):
        load_cluster(bad)


async def test_slow_watcher_is_closed_not_blocking() -> None:
    from devstack.apiserver.store import ObjectStore

    store = ObjectStore()
    slow = store.open_watch("configmaps", "default", str(store.resource_version), queue_size=10)
    fast = store.open_watch("configmaps", "default", str(store.resource_version))
    for i in range(50):
        await store.create("configmaps", {"metadata": {"name": f"c{i}"}}, "default")
    # The slow watcher overflowed and was closed; the store and other watchers went on.
    assert slow.closed and slow.overflowed and await slow.next() is None
    assert len(fast.queue) == 50 and not fast.closed
    items, _ = store.list("configmaps", "default")
    assert len(items) == 50


def test_cli_status_and_down(tmp_path: Path) -> None:
    import subprocess
    import sys

    from conftest import start_devstack

    ds = start_devstack(tmp_path / "state", "none")
    try:
        status = subprocess.run(
            [
                sys.executable,
                "-m",
                "hub_ext.cli",
                "devstack",
                "status",
                "--state-dir",
                str(ds.state_dir),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "devstack is running" in status.stdout and "12 nodes, 0 pods" in status.stdout
        down = subprocess.run(
            [
                sys.executable,
                "-m",
                "hub_ext.cli",
                "devstack",
                "down",
                "--state-dir",
                str(ds.state_dir),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "devstack stopped" in down.stdout
        assert ds.process.wait(5) == 0
        after = subprocess.run(
            [
                sys.executable,
                "-m",
                "hub_ext.cli",
                "devstack",
                "status",
                "--state-dir",
                str(ds.state_dir),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert after.returncode == 1 and "not running" in after.stdout
    finally:
        if ds.process.poll() is None:
            ds.process.kill()
