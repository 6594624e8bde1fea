"""Pod volumes as directories in the sandbox, and mounts as symlinks under the rootfs.

devstack cannot mount, so a volume mounted at `/etc/accelhub` appears at
`$DEVSTACK_ROOTFS/etc/accelhub` (a symlink to the volume's directory). ConfigMap,
Secret, downwardAPI and projected volumes are written as files honouring `items` and
`defaultMode`; emptyDir is a fresh directory; a PVC is its bound PersistentVolume's
directory (a hostPath or local volume's path, else one directory per volume under the
kubelet's state dir), which outlives the pod; hostPath is the host path itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from devstack.apiserver.errors import ApiError
from devstack.controllers.kubelet_env import ConfigError, field_value

Files = dict[str, tuple[bytes, int]]  # relative path -> (content, mode)


class VolumeError(Exception):
    """A volume that cannot be set up yet (reported as a FailedMount event)."""


def rootfs_path(rootfs: Path, path: str) -> Path:
    """Where an absolute container path lives inside the sandbox's rootfs."""
    return rootfs / path.lstrip("/")


def mounted_argv(argv: list[str], mount_paths: list[str], rootfs: Path) -> list[str]:
    """`argv` with absolute paths under a mount path (whole, or after `--opt=`) in the rootfs.

    A container runs `/etc/app/run.sh` or `--config=/etc/app/c.py` from a mounted volume; the
    process sees those files at `rootfs/etc/app/...`, as it sees its `workingDir`.
    """
    mounts = sorted({"/" + p.strip("/") for p in mount_paths if p.startswith("/")}, key=len)

    def mapped(path: str) -> str:
        for mount in reversed(mounts):
            if mount == "/" or path == mount or path.startswith(mount + "/"):
                return str(rootfs_path(rootfs, path))
        return path

    out = []
    for arg in argv:
        if arg.startswith("/"):
            out.append(mapped(arg))
        elif "=" in arg and arg.split("=", 1)[1].startswith("/"):
            key, value = arg.split("=", 1)
            out.append(f"{key}={mapped(value)}")
        else:
            out.append(arg)
    return out


async def _object_data(
    store: Any, kind: str, name: str, namespace: str, optional: bool, volume: str
) -> dict[str, bytes] | None:
    resource = "configmaps" if kind == "configmap" else "secrets"
    try:
        obj = await store.get(resource, name, namespace=namespace)
    except ApiError as exc:
        if exc.status == 404 and optional:
            return None
        if exc.status == 404:
            raise VolumeError(
                f'MountVolume.SetUp failed for volume "{volume}" : {kind} "{name}" not found'
            ) from None
        raise
    out: dict[str, bytes] = {}
    if kind == "configmap":
        for k, v in (obj.get("data") or {}).items():
            out[k] = str(v).encode()
        for k, v in (obj.get("binaryData") or {}).items():
            out[k] = base64.b64decode(v)
    else:
        for k, v in (obj.get("data") or {}).items():
            out[k] = base64.b64decode(v)
    return out


def _select(
    data: Mapping[str, bytes], items: list[dict[str, Any]] | None, mode: int, volume: str, kind: str
) -> Files:
    if not items:
        return {k: (v, mode) for k, v in data.items()}
    files: Files = {}
    for item in items:
        key = str(item.get("key", ""))
        if key not in data:
            raise VolumeError(
                f'MountVolume.SetUp failed for volume "{volume}" : '
                f"configmap references non-existent config key: {key}"
                if kind == "configmap"
                else f'MountVolume.SetUp failed for volume "{volume}" : '
                f"references non-existent secret key: {key}"
            )
        files[str(item.get("path") or key)] = (data[key], int(item.get("mode") or mode))
    return files


async def _source_files(
    store: Any,
    pod: Mapping[str, Any],
    volume: str,
    kind: str,
    src: Mapping[str, Any],
    default_mode: int,
) -> Files:
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    if kind in ("configmap", "secret"):
        name = str(src.get("name") or src.get("secretName") or "")
        data = await _object_data(store, kind, name, namespace, bool(src.get("optional")), volume)
        if data is None:
            return {}
        mode = int(src.get("defaultMode") or default_mode)
        return _select(data, src.get("items"), mode, volume, kind)
    if kind == "downwardAPI":
        files: Files = {}
        for item in src.get("items") or []:
            ref = item.get("fieldRef") or {}
            try:
                value = field_value(pod, str(ref.get("fieldPath", "")))
            except ConfigError as exc:
                raise VolumeError(str(exc)) from None
            files[str(item.get("path"))] = (value.encode(), int(item.get("mode") or default_mode))
        return files
    if kind == "serviceAccountToken":
        token = await _service_account_token(store, pod, src)
        return {str(src.get("path") or "token"): (token.encode(), default_mode)}
    return {}


async def _service_account_token(store: Any, pod: Mapping[str, Any], src: Mapping[str, Any]) -> str:
    """A token for the pod's ServiceAccount, bound to the pod, as the kubelet requests it."""
    md = pod.get("metadata") or {}
    namespace = str(md.get("namespace") or "default")
    name = str((pod.get("spec") or {}).get("serviceAccountName") or "default")
    try:
        sa = await store.get("serviceaccounts", name, namespace=namespace)
    except ApiError as exc:
        if exc.status == 404:
            raise VolumeError(
                f'failed to fetch token: serviceaccounts "{name}" not found'
            ) from None
        raise
    audience = src.get("audience")
    token, _exp = store.tokens.issue(
        namespace,
        name,
        str(sa["metadata"].get("uid") or ""),
        expiration=int(src.get("expirationSeconds") or 3607),
        audiences=[str(audience)] if audience else None,
        pod=(str(md.get("name") or ""), str(md.get("uid") or "")),
    )
    return str(token)


async def volume_files(store: Any, pod: Mapping[str, Any], volume: Mapping[str, Any]) -> Files:
    """The files a ConfigMap/Secret/downwardAPI/projected volume holds."""
    name = str(volume.get("name", ""))
    if volume.get("configMap") is not None:
        return await _source_files(store, pod, name, "configmap", volume["configMap"], 0o644)
    if volume.get("secret") is not None:
        return await _source_files(store, pod, name, "secret", volume["secret"], 0o644)
    if volume.get("downwardAPI") is not None:
        src = volume["downwardAPI"]
        return await _source_files(
            store, pod, name, "downwardAPI", src, int(src.get("defaultMode") or 0o644)
        )
    projected = volume.get("projected")
    if projected is not None:
        mode = int(projected.get("defaultMode") or 0o644)
        files: Files = {}
        for source in projected.get("sources") or []:
            for kind, key in (
                ("configmap", "configMap"),
                ("secret", "secret"),
                ("downwardAPI", "downwardAPI"),
                ("serviceAccountToken", "serviceAccountToken"),
            ):
                if source.get(key) is not None:
                    files.update(await _source_files(store, pod, name, kind, source[key], mode))
        return files
    return {}


def _write_files(target: Path, files: Files) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for rel, (content, mode) in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.chmod(path, mode)


class Volumes:
    """The volumes of one pod, materialised under its sandbox."""

    _link_holders: ClassVar[Counter[Path]] = Counter()  # nested mount link -> pods using it

    def __init__(self, sandbox: Path, pvc_root: Path) -> None:
        self.sandbox = sandbox
        self.rootfs = sandbox / "rootfs"
        self.pvc_root = pvc_root
        self.dirs: dict[str, Path] = {}
        self.nested_links: list[Path] = []

    async def setup(self, store: Any, pod: Mapping[str, Any]) -> None:
        """Create every volume's directory and files; VolumeError when one can't be."""
        namespace = (pod.get("metadata") or {}).get("namespace", "default")
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = str(volume.get("name", ""))
            if volume.get("hostPath") is not None:
                self.dirs[name] = Path(str(volume["hostPath"].get("path", "/")))
                continue
            if volume.get("persistentVolumeClaim") is not None:
                claim = str(volume["persistentVolumeClaim"].get("claimName", ""))
                target = await self._claim_dir(store, namespace, name, claim)
                await _to_thread_mkdir(target)
                self.dirs[name] = target
                continue
            target = self.sandbox / "volumes" / name
            files = await volume_files(store, pod, volume)
            await _run(_write_files, target, files)
            self.dirs[name] = target

    async def _claim_dir(self, store: Any, namespace: str, volume: str, claim: str) -> Path:
        """The directory of the PersistentVolume bound to a claim."""

        def fail(why: str) -> VolumeError:
            return VolumeError(
                f"Unable to attach or mount volumes: unmounted volumes=[{volume}], "
                f"unattached volumes=[], failed to process volumes=[{volume}]: "
                f"error processing PVC {namespace}/{claim}: {why}"
            )

        try:
            pvc = await store.get("persistentvolumeclaims", claim, namespace=namespace)
        except ApiError as exc:
            if exc.status == 404:
                raise fail(
                    "failed to fetch PVC from API server: "
                    f'persistentvolumeclaims "{claim}" not found'
                ) from None
            raise
        if pvc["metadata"].get("deletionTimestamp"):
            raise fail("PVC is being deleted")
        pv_name = (pvc.get("spec") or {}).get("volumeName")
        if not pv_name or (pvc.get("status") or {}).get("phase") != "Bound":
            raise fail("PVC is not bound")
        try:
            pv = await store.get("persistentvolumes", pv_name)
        except ApiError as exc:
            if exc.status == 404:
                raise fail(f'persistentvolumes "{pv_name}" not found') from None
            raise
        spec = pv.get("spec") or {}
        for source in ("hostPath", "local"):
            if (spec.get(source) or {}).get("path"):
                return Path(str(spec[source]["path"]))
        # Network volumes (nfs, csi...) become one shared directory per volume.
        return self.pvc_root / pv_name

    def mount(self, container: Mapping[str, Any]) -> None:
        """Link each `volumeMounts[].mountPath` under the rootfs to its volume."""
        for vm in container.get("volumeMounts") or []:
            source = self.dirs.get(str(vm.get("name", "")))
            if source is None:
                continue
            if vm.get("subPath"):
                source = source / str(vm["subPath"])
                if not source.exists():
                    source.mkdir(parents=True, exist_ok=True)
            link = rootfs_path(self.rootfs, str(vm.get("mountPath", "/")))
            link.parent.mkdir(parents=True, exist_ok=True)
            nested = not link.parent.resolve().is_relative_to(self.rootfs.resolve())
            if link.is_symlink():
                if Path(os.readlink(link)) == source:
                    if nested:
                        self._hold(link)
                    continue
                link.unlink()
            elif link.is_dir() and nested:
                # A mount inside another volume hides what is there; keep it aside instead.
                if any(link.iterdir()):
                    link.rename(link.with_name(link.name + ".hidden-by-mount"))
                else:
                    link.rmdir()
            elif link.is_dir():
                shutil.rmtree(link)
            link.symlink_to(source, target_is_directory=source.is_dir())
            if nested:
                self._hold(link)

    def _hold(self, link: Path) -> None:
        link = link.parent.resolve() / link.name  # one key for every pod's path to it
        if link not in self.nested_links:
            self.nested_links.append(link)
            Volumes._link_holders[link] += 1

    def unmount(self) -> None:
        """Remove mount links made inside other volumes, so a claim's data never keeps a
        link to another volume after the pod is gone."""
        for link in self.nested_links:
            Volumes._link_holders[link] -= 1
            if Volumes._link_holders[link] > 0:
                continue  # another running pod mounts the same place
            del Volumes._link_holders[link]
            with contextlib.suppress(OSError):
                if link.is_symlink():
                    link.unlink()
        self.nested_links.clear()

    def cleanup(self) -> None:
        """Remove the sandbox's volumes (never PVC or hostPath data)."""
        shutil.rmtree(self.sandbox / "volumes", ignore_errors=True)


async def _to_thread_mkdir(path: Path) -> None:
    await _run(lambda: path.mkdir(parents=True, exist_ok=True))


async def _run(fn: Any, *args: Any) -> None:
    await asyncio.to_thread(fn, *args)
