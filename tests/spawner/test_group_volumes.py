"""GroupVolumes: config checks, which areas a user gets, the pod transform and claim creation."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException
from kubernetes_asyncio.client import V1Container, V1Pod, V1PodSpec, V1Volume, V1VolumeMount
from kubernetes_asyncio.client.exceptions import ApiException
from traitlets import TraitError
from traitlets.config import Config

from hub_ext.demo.config import GROUP_AREAS
from hub_ext.spawner.group_volumes import GroupVolumes, group_areas, mount_group_volumes

AREAS = {
    "physics": {"mount_path": "/home/jovyan/shared/physics", "size": "50Gi"},
    "hackathon": {
        "claim": "datasets",
        "mount_path": "/datasets",
        "read_only": True,
        "writers": ["otto"],
    },
}


def volumes(areas: dict[str, Any] = AREAS, **extra: Any) -> GroupVolumes:
    config = Config()
    config.GroupVolumes.volumes = areas
    for key, value in extra.items():
        setattr(config.GroupVolumes, key, value)
    return GroupVolumes(config=config)


def pod() -> V1Pod:
    home = V1VolumeMount(name="home", mount_path="/home/jovyan")
    return V1Pod(
        spec=V1PodSpec(
            containers=[
                V1Container(name="notebook", volume_mounts=[home]),
                V1Container(name="sidecar"),
            ],
            volumes=[V1Volume(name="home")],
        )
    )


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"mount_path": "shared"}, "mount_path must be an absolute path"),
        ({"mount_path": "/s", "sise": "1Gi"}, "unknown keys ['sise']"),
        ({"mount_path": "/s", "size": "lots"}, "is not a quantity such as 50Gi"),
        ({"mount_path": "/s", "claim": "Bad_Name"}, "is not a valid claim name"),
        ({"mount_path": "/s", "read_only": "yes"}, "read_only must be true or false"),
        ({"mount_path": "/s", "writers": "otto"}, "writers must be a list of user names"),
        ("/s", "must be a mapping"),
    ],
)
def test_bad_config_is_refused_in_a_sentence(raw: Any, words: str) -> None:
    with pytest.raises(TraitError, match=r"GroupVolumes\.volumes\['g'\]") as caught:
        volumes({"g": raw})
    assert words in str(caught.value)


def test_members_get_their_groups_areas_only() -> None:
    gv = volumes()
    assert [a.group for a in gv.for_groups(["physics", "biology"])] == ["physics"]
    assert gv.for_groups(["biology"]) == []
    physics = gv.for_groups(["physics"])[0]
    assert physics.claim == "shared-physics"  # the default claim name
    assert physics.size == "50Gi" and not physics.read_only


def test_transform_mounts_every_container_read_only_but_for_writers() -> None:
    areas = volumes().for_groups(["physics", "hackathon"])
    shaped = mount_group_volumes(pod(), areas, "h1")
    names = [v.name for v in shaped.spec.volumes]
    assert names == ["home", "group-shared-physics", "group-datasets"]
    datasets = shaped.spec.volumes[2].persistent_volume_claim
    assert datasets.claim_name == "datasets" and datasets.read_only is True
    for container in shaped.spec.containers:
        mounts = {m.mount_path: m.read_only for m in container.volume_mounts}
        assert mounts["/home/jovyan/shared/physics"] is False
        assert mounts["/datasets"] is True
    assert shaped.spec.containers[0].volume_mounts[0].name == "home"  # the home stays first
    organiser = mount_group_volumes(pod(), areas, "otto")
    assert organiser.spec.volumes[2].persistent_volume_claim.read_only is False


def test_claim_manifest_is_shared_and_labelled() -> None:
    gv = volumes(storage_class="nfs")
    claim = gv.claim_manifest(gv.for_groups(["physics"])[0])
    assert claim.metadata.name == "shared-physics"
    assert claim.metadata.labels["accelhub.io/group"] == "physics"
    assert claim.spec.access_modes == ["ReadWriteMany"]
    assert claim.spec.resources.requests == {"storage": "50Gi"}
    assert claim.spec.storage_class_name == "nfs"


class FakeCoreApi:
    """Records claim creations; a second creation of a name answers 409 like the API."""

    def __init__(self) -> None:
        self.created: list[str] = []

    async def create_namespaced_persistent_volume_claim(self, namespace: str, body: Any) -> Any:
        if body.metadata.name in self.created:
            raise ApiException(status=409, reason="Conflict")
        self.created.append(body.metadata.name)
        return body


def spawner(config: Config, groups: list[str], api: FakeCoreApi) -> Any:
    return SimpleNamespace(
        config=config,
        log=logging.getLogger("test"),
        user_groups=lambda: groups,
        api=api,
        namespace="accelhub",
        k8s_api_request_timeout=3,
        user=SimpleNamespace(name="h1"),
    )


def test_spawner_hook_creates_sized_claims_once_and_mounts() -> None:
    config = Config()
    config.GroupVolumes.volumes = AREAS
    api = FakeCoreApi()
    for _ in range(2):
        shaped = asyncio.run(group_areas(spawner(config, ["physics", "hackathon"], api), pod()))
    assert api.created == ["shared-physics"]  # `datasets` has no size: an admin's claim
    assert len(shaped.spec.volumes) == 3


def test_spawner_hook_turns_bad_config_into_a_spawn_error() -> None:
    config = Config()
    config.GroupVolumes.volumes = {"physics": {"mount_path": "relative"}}
    with pytest.raises(SpawnException, match="group shared areas are misconfigured"):
        asyncio.run(group_areas(spawner(config, ["physics"], FakeCoreApi()), pod()))


def test_demo_areas_are_valid() -> None:
    gv = volumes(GROUP_AREAS)
    assert {a.group for a in gv.for_groups(["physics", "hackathon"])} == {"physics", "hackathon"}
