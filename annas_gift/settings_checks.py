"""Strictness checks for settings: unknown keys and variables, with a "did you mean" hint.

Pure functions over plain mappings and pydantic model classes, so the settings loader can check
each source (the JSON file, `ANNAS_GIFT_*` variables, `.env`, keyword overrides) and name the
source in its one-line error.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

ENV_PREFIX = "ANNAS_GIFT_"
# URL schemes the storage layer can drive, and the spellings it rewrites to them.
SUPPORTED_DATABASE_URLS = "sqlite+aiosqlite://, postgresql+asyncpg://, postgresql://"
_DATABASE_SCHEMES = frozenset(
    {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite", "postgres", "postgresql"}
    | {"postgresql+asyncpg", "postgresql+psycopg2"}
)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean `x`?)` for the closest choice, or "" when none is close."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{match[0]}`?)" if match else ""


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside `Model`, `Model | None`; None for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            if (found := model_in(arg)) is not None:
                return found
    return None


def _dict_of_models(annotation: Any) -> type[BaseModel] | None:
    """The value model of `dict[str, Model]`; None for any other annotation."""
    if get_origin(annotation) is dict:
        args = get_args(annotation)
        return model_in(args[1]) if len(args) == 2 else None
    return None


def unknown_key(data: Mapping[str, Any], model: type[BaseModel], prefix: str = "") -> str | None:
    """The first key of `data` (dotted, with a hint) that `model` does not define, else None."""
    fields = model.model_fields
    for key, value in data.items():
        path = f"{prefix}{key}"
        field = fields.get(key)
        if field is None:
            return f"{path}{did_you_mean(key, fields)}"
        if not isinstance(value, Mapping):
            continue
        if (sub := model_in(field.annotation)) is not None:
            found = unknown_key(value, sub, f"{path}.")
        elif (item := _dict_of_models(field.annotation)) is not None:
            found = next(
                (
                    bad
                    for name, entry in value.items()
                    if isinstance(entry, Mapping)
                    and (bad := unknown_key(entry, item, f"{path}.{name}."))
                ),
                None,
            )
        else:
            continue
        if found is not None:
            return found
    return None


def unknown_env_var(
    names: Iterable[str], model: type[BaseModel], allowed: Collection[str]
) -> str | None:
    """A one-line complaint about the first `ANNAS_GIFT_*` name no setting reads, else None.

    `allowed` holds the other names the gateway reads (upper case, e.g. ANNAS_GIFT_CONFIG).
    Variables without our prefix are not ours to judge.
    """
    for name in sorted(names):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in allowed:
            continue
        suggestion = _env_suggestion(upper.removeprefix(ENV_PREFIX).lower(), model)
        if suggestion is None:
            continue  # a real setting
        hint = f" (did you mean `{suggestion}`?)" if suggestion else ""
        return f"unknown environment variable {name}{hint}"
    return None


def _env_suggestion(rest: str, model: type[BaseModel]) -> str | None:
    """None if `rest` (lower case, after the prefix) names a setting; else a fix, or ""."""
    parts = rest.split("__")
    fixed: list[str] = []
    current: type[BaseModel] | None = model
    for index, part in enumerate(parts):
        if current is None:  # below a plain value: nothing can be nested here
            return ""
        fields = current.model_fields
        if part not in fields:
            # ANNAS_GIFT_SERVER_PORT: a single underscore where the nesting needs two.
            head = next((f for f in fields if part.startswith(f + "_")), None)
            if head is not None and model_in(fields[head].annotation) is not None:
                guess = [*fixed, head, part[len(head) + 1 :], *parts[index + 1 :]]
            else:
                close = difflib.get_close_matches(part, list(fields), n=1, cutoff=0.6)
                if not close:
                    return ""
                guess = [*fixed, close[0], *parts[index + 1 :]]
            return ENV_PREFIX + "__".join(guess).upper()
        fixed.append(part)
        annotation = fields[part].annotation
        if _dict_of_models(annotation) is not None or get_origin(annotation) is dict:
            return None  # the keys below a mapping are the user's own names
        current = model_in(annotation)
    return None


def resolve_sqlite_url(url: str, base: Path) -> str:
    """A SQLite URL whose relative file path is made absolute against `base`."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.lower().startswith("sqlite") or not rest.startswith("/"):
        return url
    path, qmark, query = rest[1:].partition("?")
    if not path or path == ":memory:" or path.startswith(("/", "file:")):
        return url
    return f"{scheme}:///{(base / path).resolve()}{qmark}{query}"


def resolve_paths(data: dict[str, Any], base: Path, keys: Iterable[tuple[str, str]]) -> None:
    """Make the relative paths at (section, key) in `data` absolute against `base`, in place."""
    for section, key in keys:
        values = data.get(section)
        if not isinstance(values, dict):
            continue
        value = values.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        if key == "database_url":
            values[key] = resolve_sqlite_url(value, base)
        elif not Path(value).expanduser().is_absolute():
            values[key] = str((base / value).resolve())


def check_database_url(url: str) -> None:
    """Raise ValueError unless `url` is a database URL the gateway supports (never echoes it)."""
    from sqlalchemy.engine import make_url

    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise ValueError(f"not a database URL; supported: {SUPPORTED_DATABASE_URLS}")
    if scheme.lower() not in _DATABASE_SCHEMES:
        shown = scheme if len(scheme) <= 40 and scheme.replace("+", "").isalnum() else "?"
        raise ValueError(f"unsupported scheme {shown}://; supported: {SUPPORTED_DATABASE_URLS}")
    try:
        make_url(url)
    except Exception:  # the parser's message would repeat the URL, password included
        raise ValueError("the URL cannot be parsed (check host, port and quoting)") from None


def explain_validation_error(
    exc: ValidationError, model: type[BaseModel], notes: Mapping[str, str] | None = None
) -> str:
    """One line for the first error: the dotted key, and a hint for a misspelled one.

    `notes` adds text after chosen keys, e.g. where their value came from.
    """
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"]]
    key = ".".join(loc) or "settings"
    if first["type"] == "extra_forbidden":  # a keyword override or a whole-section env value
        current: type[BaseModel] | None = model
        parts = iter(loc[:-1])
        for part in parts:
            field = current.model_fields.get(part) if current is not None else None
            if field is None:
                current = None
                break
            current = _dict_of_models(field.annotation)
            if current is not None:
                next(parts, None)  # the next part is the user's own key name
            else:
                current = model_in(field.annotation)
        hint = did_you_mean(loc[-1], current.model_fields) if current is not None else ""
        return f"unknown setting {key}{hint}"
    message = str(first["msg"]).removeprefix("Value error, ")
    note = (notes or {}).get(key, "")
    return f"invalid setting {key}{note}: {message}"


def explain_env_error(message: str, environ: Mapping[str, str], model: type[BaseModel]) -> str:
    """Name the environment variable whose list/mapping value is not JSON."""
    for name, value in environ.items():
        section, sep, key = name.removeprefix(ENV_PREFIX).lower().partition("__")
        if not name.startswith(ENV_PREFIX) or not sep or section not in model.model_fields:
            continue
        sub = model_in(model.model_fields[section].annotation)
        field = sub.model_fields.get(key) if sub is not None else None
        if field is None or not any(t in str(field.annotation) for t in ("list", "dict")):
            continue
        try:
            json.loads(value)
        except ValueError:
            return (
                f"invalid setting {section}.{key}: {name} must be JSON, "
                'e.g. ["http://localhost:3000"] or {"name": "value"}'
            )
    return message.replace("\n", " ")


def substituted_names(config_path: str | None, pattern: re.Pattern[str]) -> set[str]:
    """Upper-cased names a config file substitutes (`${ANNAS_GIFT_HOST:-...}`): the file's own."""
    if not config_path:
        return set()
    try:
        text = Path(config_path).read_text(encoding="utf-8")
    except OSError:
        return set()  # the file source reports the unreadable file
    return {match.group(1).upper() for match in pattern.finditer(text)}
