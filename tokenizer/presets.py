"""Training recipes: every `tokenizer train` setting a build depends on, in one typed object.

A recipe is the defaults (``Recipe()``), a shipped preset (``presets/<name>.yaml``, e.g.
``youtu``, the reference build) or a YAML/JSON file; flags given on the command line
override its values (``resolve``). ``as_flags`` gives the equivalent command line, so a
preset is exactly what those flags train (tested byte for byte). The base vocabulary file
is never part of a recipe (it is not shipped): ``base_file`` only names the one the preset
was designed for, and ``--base FILE`` must name it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

PRESET_DIR = Path(__file__).resolve().parent / "presets"


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    base_file: str | None = None  # the base the recipe expects (--base FILE names it)
    vocab_size: int = 128_256
    weights: str | None = None
    sample_bytes: str | None = None  # e.g. "80MB"; None: every training document
    holdout: float = 0.0
    base_keep: str = "ascii"
    base_drop: str | None = None
    base_pin: str | None = None
    base_select: Literal["rank", "used", "usage"] = "rank"
    base_max: int | Literal["auto"] | None = None
    base_max_candidates: list[int] = [40_000, 60_000, 80_000, 100_000]
    digits: Literal[1, 3] = 1
    min_frequency: int = 0

    @field_validator("base_max_candidates")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(n <= 0 for n in v):
            raise ValueError("one or more positive token counts")
        return v

    def as_flags(self) -> list[str]:
        """The `tokenizer train` flags that give this recipe with no preset."""
        flags: list[str] = []
        for name, value in self.model_dump(exclude={"description", "base_file"}).items():
            if value is None:
                continue
            if isinstance(value, list):
                value = ",".join(map(str, value))
            flags += [f"--{name.replace('_', '-')}", str(value)]
        return flags


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_recipe(name_or_path: str) -> Recipe:
    """A shipped preset by name, or a recipe file (YAML or JSON); errors name the field."""
    import yaml

    path = Path(name_or_path)
    if not path.exists():
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise ValueError(f"unknown preset {name_or_path!r}: one of {', '.join(preset_names())} or a recipe file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Recipe.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise ValueError(f"preset {name_or_path}: {field}: {err['msg'].removeprefix('Value error, ')}") from None
    except yaml.YAMLError as e:
        raise ValueError(f"preset {name_or_path}: not YAML/JSON ({e})") from None


def resolve(preset: str | None, given: dict[str, Any]) -> Recipe:
    """The recipe of ``preset`` (or the defaults) with the flags that were ``given`` (not
    None) on top."""
    recipe = load_recipe(preset) if preset else Recipe()
    update = {k: v for k, v in given.items() if v is not None}
    try:
        return Recipe.model_validate({**recipe.model_dump(), **update})
    except ValidationError as e:
        err = e.errors()[0]
        raise ValueError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg'].removeprefix('Value error, ')}") from None
