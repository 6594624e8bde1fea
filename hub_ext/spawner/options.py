"""One validator for user options, whether they come from the spawn form or the REST API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..catalog import AcceleratorCatalog, Flavor, UnknownFlavor
from ..flavor_access import GroupAccess, as_access
from ..quantity import cores as parse_cores
from ..quantity import parse_quantity
from ..shown import shown

OPTION_KEYS = ("flavor", "count", "cpu", "memory", "image", "wait")
# Form fields JupyterHub itself adds to the spawn form's POST body.
HUB_FORM_FIELDS = ("_xsrf",)
FIELD_SEPARATOR = "--"


class OptionsError(ValueError):
    """User options that cannot be used; the message is a sentence for the person who sent them.
    ``reason`` says which kind of advice fits (``not_allowed``: a flavor of other groups)."""

    def __init__(self, message: str, reason: str = "invalid_options") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Selection:
    """What one spawn asks for, validated against the catalog."""

    flavor: Flavor
    count: int
    cpu: float
    memory: str
    image: str | None
    wait: bool = False

    def to_options(self) -> dict[str, Any]:
        """The canonical JSON form of these options."""
        return {
            "flavor": self.flavor.slug,
            "count": self.count,
            "cpu": self.cpu,
            "memory": self.memory,
            "image": self.image,
            "wait": self.wait,
        }


def field_name(slug: str, option: str) -> str:
    """The form field carrying ``option`` for flavor ``slug`` (e.g. ``t4--count``)."""
    return f"{slug}{FIELD_SEPARATOR}{option}"


def options_from_form(form: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """Turn the spawn form's POST body into the JSON shape the REST API takes.

    The form carries one set of fields per flavor (``<slug>--count`` ...); only the
    chosen flavor's fields are kept. Unknown fields are kept as they are so the
    validator refuses them by name.
    """
    values = {k: (v[0] if isinstance(v, list | tuple) and v else v) for k, v in form.items()}
    values = {k: v for k, v in values.items() if k not in HUB_FORM_FIELDS}
    flavor = values.pop("flavor", None)
    options: dict[str, Any] = {}
    if flavor is not None:
        options["flavor"] = flavor
    for key, value in values.items():
        slug, sep, option = key.partition(FIELD_SEPARATOR)
        if sep and option in OPTION_KEYS[1:]:
            if slug == flavor and value not in ("", None):
                options[option] = value
        else:
            options[key] = value
    return options


def _describe(value: Any) -> str:
    return shown(value)


def validate_options(
    options: Mapping[str, Any] | None,
    catalog: AcceleratorCatalog,
    groups: GroupAccess | Sequence[str],
    default_image: str | None = None,
) -> Selection:
    """Validate user options against the catalog; missing keys take the flavor's defaults.
    ``groups``: the user's groups, as names or with their flavor access (GroupAccess).

    Raises OptionsError with a message a person understands (never KeyError).
    """
    options = dict(options or {})
    extra = sorted(str(k) for k in options if k not in OPTION_KEYS)
    if extra:
        raise OptionsError(
            f"Unknown option {_describe(extra[0])}: the options are {', '.join(OPTION_KEYS)}."
        )
    access = as_access(groups)
    allowed = catalog.for_groups(access)
    slug = options.get("flavor")
    if slug in (None, ""):
        if not allowed:
            raise OptionsError(
                "No accelerator flavor is open to your groups; ask an admin.", "not_allowed"
            )
        flavor = allowed[0]
    else:
        if not isinstance(slug, str):
            raise OptionsError(f"The flavor must be a name such as 'cpu', not {_describe(slug)}.")
        try:
            flavor = catalog.get(slug)
        except UnknownFlavor as err:
            raise OptionsError(str(err)) from None
        if not access.may_use(flavor):
            raise OptionsError(access.refusal(flavor, flavor.display_name), "not_allowed")
    return Selection(
        flavor=flavor,
        count=_count(flavor, options.get("count")),
        cpu=_cpu(flavor, options.get("cpu")),
        memory=_memory(flavor, options.get("memory")),
        image=_image(flavor, options.get("image"), default_image),
        wait=_wait(flavor, options.get("wait")),
    )


def _count(flavor: Flavor, raw: Any) -> int:
    if raw in (None, ""):
        return flavor.default_count
    try:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError
        count = int(raw)
    except (TypeError, ValueError):
        raise OptionsError(
            f"The device count must be a whole number, not {_describe(raw)}."
        ) from None
    if count not in flavor.counts:
        if flavor.kind == "cpu":
            raise OptionsError(f"{flavor.display_name} has no accelerator; leave the count out.")
        choices = ", ".join(str(c) for c in flavor.counts)
        raise OptionsError(
            f"{flavor.display_name} comes in counts of {choices} device(s), not {count}."
        )
    return count


TRUE_WORDS = ("true", "on", "yes", "1")
FALSE_WORDS = ("false", "off", "no", "0")


def _wait(flavor: Flavor, raw: Any) -> bool:
    """Whether to wait in line when no device is free (a form checkbox sends 'on')."""
    if raw in (None, ""):
        return False
    if isinstance(raw, str) and raw.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        raw = raw.strip().lower() in TRUE_WORDS
    if not isinstance(raw, bool):
        raise OptionsError(f"'wait' must be true or false, not {_describe(raw)}.")
    if raw and not flavor.accelerated:
        raise OptionsError(f"{flavor.display_name} has no waiting line; leave 'wait' out.")
    return raw


def _cpu(flavor: Flavor, raw: Any) -> float:
    if raw in (None, ""):
        return flavor.default_cpu
    try:
        if isinstance(raw, bool):
            raise ValueError
        cores = parse_cores(raw)
    except (TypeError, ValueError):
        raise OptionsError(
            f"The CPU amount must be a number of cores, not {_describe(raw)}."
        ) from None
    allowed = flavor.allowed_cpus()
    if not any(abs(cores - c) < 1e-9 for c in allowed):
        choices = ", ".join(f"{c:g}" for c in allowed)
        raise OptionsError(f"{flavor.display_name} offers {choices} CPU cores, not {cores:g}.")
    return cores


def _memory(flavor: Flavor, raw: Any) -> str:
    allowed = flavor.allowed_memories()
    if raw in (None, ""):
        return allowed[0]
    try:
        if isinstance(raw, bool):
            raise ValueError
        size = parse_quantity(raw)
    except (TypeError, ValueError):
        raise OptionsError(
            f"The memory must be a size such as 8Gi, not {_describe(raw)}."
        ) from None
    for choice in allowed:
        if parse_quantity(choice) == size:
            return choice
    raise OptionsError(
        f"{flavor.display_name} offers {', '.join(allowed)} of memory, not {_describe(raw)}."
    )


def _image(flavor: Flavor, raw: Any, default_image: str | None) -> str | None:
    if raw in (None, ""):
        return flavor.default_image or default_image
    if not isinstance(raw, str):
        raise OptionsError(f"The image must be a name, not {_describe(raw)}.")
    allowed = flavor.images or ((default_image,) if default_image else ())
    if raw not in allowed:
        raise OptionsError(
            f"{flavor.display_name} cannot use image {_describe(raw)}; "
            f"choose one of: {', '.join(allowed) or 'the default image'}."
        )
    return raw
