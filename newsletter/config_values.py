"""A setting's raw value (TOML, an environment string, a --set flag) made its type, in its
range, or a ConfigError naming the setting (pure)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from newsletter.config import SettingSpec

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def coerce(spec: SettingSpec, raw: Any, origin: str) -> Any:
    """Turn a TOML value or an environment string into the setting's type, or explain why not."""
    expected = spec.type

    def fail(what: str) -> ConfigError:
        return ConfigError(
            f"{spec.name} from {origin}: {what} (got {raw!r})",
            setting=spec.name,
            hint=f"{spec.name}: {spec.doc}",
        )

    value: Any
    if expected is bool:
        if isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            value = raw.strip().lower() in _TRUE
        else:
            raise fail("expected true or false")
    elif expected is int:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise fail("expected a whole number")
        try:
            value = int(str(raw).replace("_", "")) if isinstance(raw, str) else int(raw)
        except (ValueError, OverflowError):
            raise fail("expected a whole number") from None
        if isinstance(raw, float) and raw != value:
            raise fail("expected a whole number")
    elif expected is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise fail("expected a number")
        try:
            value = float(raw)
        except (TypeError, ValueError, OverflowError):
            raise fail("expected a number") from None
        if not math.isfinite(value):
            raise fail("expected a finite number")
    elif expected == list[str]:
        if isinstance(raw, str):
            value = [part.strip() for part in raw.split(",") if part.strip()]
        elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            value = list(raw)
        else:
            raise fail("expected a list of strings")
        if any(_CONTROL.search(item) for item in value):
            raise fail("a line break or control character is not allowed here")
    elif expected is str:
        if not isinstance(raw, str):
            raise fail("expected a string")
        if _CONTROL.search(raw):
            raise fail("a line break or control character is not allowed here")
        value = raw
    else:  # pragma: no cover - a new setting type must be taught here
        raise TypeError(f"unsupported setting type {expected!r} for {spec.name}")
    if spec.choices and value not in spec.choices:
        raise fail(f"expected one of {', '.join(spec.choices)}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = spec.bounds or (0, math.inf)
        if not low <= value <= high:
            raise fail(f"must be between {_number(low)} and {_number(high)}")
    return value


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


# CR, LF and the other C0 controls: a value with one could split a mail header or a log line.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
