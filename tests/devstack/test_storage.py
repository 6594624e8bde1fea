"""devstack storage through the real kubectl: classes, provisioning, binding, mounting,
PVC protection, reclaim policies Delete and Retain, and pods waiting on claims."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.devstack.conftest import (
    RunningDevstack,
    scratch_namespace,
    start_devstack,
    stop_devstack,
)
from tests.devstack.test_kubelet_pods import until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    """A devstack of our own: volumes of other suites never show up in `get pv`."""
    running = start_devstack(tmp_path_factory.mktemp("storage") / "state")
    yield running
    stop_devstack(running)


@pytest.fixture
def ns(ds: RunningDevstack) -> Iterator[str]:
    with scratch_namespace(ds, "s") as name:
        yield name


def apply(ds: RunningDevstack, ns: str, *objs: dict[str, Any]) -> None:
    ds.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(objs))


def claim(name: str, size: str = "1Gi", mode: str = "ReadWriteOnce", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "accessModes": [mode],
            "resources": {"requests": {"storage": size}},
            **spec,
        },
    }


def writer(name: str, claim_name: str, text: str) -> dict[str, Any]:
    """A pod that writes `text` to /data/note.txt on the claim, then sleeps."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": "busybox:1.36",
                    "command": [
                        "sh",
                        "-c",
                        f'echo {text} > "$DEVSTACK_ROOTFS/data/note.txt"; exec sleep 600',
                    ],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}],
        },
    }


def get(ds: RunningDevstack, ns: str | None, kind: str, name: str) -> dict[str, Any]:
    where = ["-n", ns] if ns else []
    return json.loads(ds.kubectl("get", *where, kind, name, "-o", "json").stdout)


def phase(ds: RunningDevstack, ns: str | None, kind: str, name: str) -> str:
    return str(get(ds, ns, kind, name).get("status", {}).get("phase", ""))


def gone(ds: RunningDevstack, ns: str | None, kind: str, name: str) -> bool:
    where = ["-n", ns] if ns else []
    out = ds.kubectl("get", *where, kind, name, check=False)
    return out.returncode != 0 and "NotFound" in out.stderr


def test_default_storage_class(ds: RunningDevstack) -> None:
    lines = ds.kubectl("get", "storageclass").stdout.splitlines()
    assert lines[0].split() == [
        "NAME",
        "PROVISIONER",
        "RECLAIMPOLICY",
        "VOLUMEBINDINGMODE",
        "ALLOWVOLUMEEXPANSION",
        "AGE",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["standard"][1:5] == [
        "(default)",
        "devstack.accelhub/local-path",
        "Delete",
        "Immediate",
    ]
    assert rows["standard-retain"][2] == "Retain"


def test_provision_bind_mount_and_delete(ds: RunningDevstack, ns: str) -> None:
    apply(ds, ns, claim("work", "2Gi", "ReadWriteMany"))
    until(lambda: phase(ds, ns, "pvc", "work") == "Bound")
    pvc = get(ds, ns, "pvc", "work")
    assert pvc["spec"]["storageClassName"] == "standard"  # the default class, by admission
    assert "kubernetes.io/pvc-protection" in pvc["metadata"]["finalizers"]
    pv_name = pvc["spec"]["volumeName"]
    table = ds.kubectl("get", "-n", ns, "pvc,pv").stdout
    assert f"persistentvolumeclaim/work   Bound    {pv_name}   2Gi        RWX" in table
    pv_line = next(line for line in table.splitlines() if f"persistentvolume/{pv_name}" in line)
    pv_row = pv_line.split()
    assert pv_row[1:7] == ["2Gi", "RWX", "Delete", "Bound", f"{ns}/work", "standard"]
    events = ds.kubectl("describe", "pvc", "-n", ns, "work").stdout
    assert "ProvisioningSucceeded" in events
    assert f"Successfully provisioned volume {pv_name}" in events
    directory = Path(get(ds, None, "pv", pv_name)["spec"]["hostPath"]["path"])

    apply(ds, ns, writer("w1", "work", "hello"))
    until(lambda: (directory / "note.txt").exists())
    assert (directory / "note.txt").read_text() == "hello\n"

    # In use: the claim stays (Terminating) until its pod is gone.
    ds.kubectl("delete", "pvc", "-n", ns, "work", "--wait=false")
    until(lambda: "Terminating" in ds.kubectl("get", "pvc", "-n", ns, "work").stdout)
    assert directory.exists()
    ds.kubectl("delete", "pod", "-n", ns, "w1", "--wait=false")
    until(lambda: gone(ds, ns, "pvc", "work"))
    until(lambda: gone(ds, None, "pv", pv_name))
    assert not directory.exists()


def test_retain_keeps_data_after_claim_deletion(ds: RunningDevstack, ns: str) -> None:
    apply(ds, ns, claim("keep", storageClassName="standard-retain"))
    until(lambda: phase(ds, ns, "pvc", "keep") == "Bound")
    pv_name = get(ds, ns, "pvc", "keep")["spec"]["volumeName"]
    directory = Path(get(ds, None, "pv", pv_name)["spec"]["hostPath"]["path"])
    apply(ds, ns, writer("w2", "keep", "precious"))
    until(lambda: (directory / "note.txt").exists())
    ds.kubectl("delete", "pod", "-n", ns, "w2", "--wait=false")
    ds.kubectl("delete", "pvc", "-n", ns, "keep", "--wait=false")
    until(lambda: gone(ds, ns, "pvc", "keep"))
    until(lambda: phase(ds, None, "pv", pv_name) == "Released")
    row = ds.kubectl("get", "pv", pv_name).stdout.splitlines()[1].split()
    assert row[3:6] == ["Retain", "Released", f"{ns}/keep"]
    assert (directory / "note.txt").read_text() == "precious\n"
    ds.kubectl("delete", "pv", pv_name)  # an admin removes it; the data stays on disk
    assert (directory / "note.txt").exists()


def test_static_volume_binds_by_class_and_size(
    ds: RunningDevstack, ns: str, tmp_path: Path
) -> None:
    small, big = f"static-small-{ns}", f"static-big-{ns}"
    for name, size in ((small, "1Gi"), (big, "10Gi")):
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                "storageClassName": "manual",
                "hostPath": {"path": str(tmp_path / name)},
            },
        }
        ds.kubectl("apply", "-f", "-", input=yaml.safe_dump(pv))
    until(lambda: phase(ds, None, "pv", small) == "Available")
    apply(ds, ns, claim("wants-5", "5Gi", storageClassName="manual"))
    until(lambda: phase(ds, ns, "pvc", "wants-5") == "Bound")
    assert get(ds, ns, "pvc", "wants-5")["spec"]["volumeName"] == big
    assert get(ds, ns, "pvc", "wants-5")["status"]["capacity"] == {"storage": "10Gi"}
    assert phase(ds, None, "pv", small) == "Available"
    ds.kubectl("delete", "pvc", "-n", ns, "wants-5")
    until(lambda: phase(ds, None, "pv", big) == "Released")  # Retain: the default for static PVs
    ds.kubectl("delete", "pv", small, big)


def test_pods_wait_for_missing_and_unbound_claims(ds: RunningDevstack, ns: str) -> None:
    apply(ds, ns, writer("lonely", "ghost", "x"))
    nodes = len(ds.kubectl("get", "nodes", "-o", "name").stdout.split())
    missing = (
        f'0/{nodes} nodes are available: persistentvolumeclaim "ghost" not found. '
        f"preemption: 0/{nodes} nodes are available: {nodes} Preemption is not helpful "
        "for scheduling."
    )
    until(lambda: missing in ds.kubectl("describe", "pod", "-n", ns, "lonely").stdout)

    external = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": f"nfs-{ns}"},
        "provisioner": "example.com/nfs",
    }
    ds.kubectl("apply", "-f", "-", input=yaml.safe_dump(external))
    apply(ds, ns, claim("far", storageClassName=f"nfs-{ns}"), writer("waiting", "far", "x"))
    until(
        lambda: (
            "pod has unbound immediate PersistentVolumeClaims"
            in ds.kubectl("describe", "pod", "-n", ns, "waiting").stdout
        )
    )
    described = ds.kubectl("describe", "pvc", "-n", ns, "far").stdout
    assert "ExternalProvisioning" in described
    assert "external provisioner 'example.com/nfs'" in described
    assert phase(ds, ns, "pod", "waiting") == "Pending"

    # The claim appears: the first pod runs.
    apply(ds, ns, claim("ghost"))
    until(lambda: phase(ds, ns, "pod", "lonely") == "Running")
    ds.kubectl("delete", "storageclass", f"nfs-{ns}")


def test_invalid_volumes_and_classes_are_rejected(ds: RunningDevstack) -> None:
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "no-source"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteSometimes"]},
    }
    out = ds.kubectl("apply", "-f", "-", input=yaml.safe_dump(pv), check=False)
    assert out.returncode != 0
    assert "spec: Required value: must specify a volume type" in out.stderr
    assert 'spec.accessModes: Unsupported value: "ReadWriteSometimes"' in out.stderr
    sc = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "lazy"},
        "provisioner": "x",
        "volumeBindingMode": "Later",
    }
    out = ds.kubectl("apply", "-f", "-", input=yaml.safe_dump(sc), check=False)
    assert 'volumeBindingMode: Unsupported value: "Later"' in out.stderr


def test_wait_for_first_consumer(ds: RunningDevstack, ns: str) -> None:
    lazy = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": f"lazy-{ns}"},
        "provisioner": "devstack.accelhub/local-path",
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    ds.kubectl("apply", "-f", "-", input=yaml.safe_dump(lazy))
    apply(ds, ns, claim("later", storageClassName=f"lazy-{ns}"))
    until(
        lambda: (
            "waiting for first consumer to be created before binding"
            in ds.kubectl("describe", "pvc", "-n", ns, "later").stdout
        )
    )
    assert phase(ds, ns, "pvc", "later") == "Pending"
    apply(ds, ns, writer("consumer", "later", "now"))
    until(lambda: phase(ds, ns, "pvc", "later") == "Bound")
    until(lambda: phase(ds, ns, "pod", "consumer") == "Running")
    ds.kubectl("delete", "pod", "-n", ns, "consumer", "--wait=false")
    ds.kubectl("delete", "storageclass", f"lazy-{ns}")
