"""The error the CLI turns into exit code 2, so no user mistake ever ends in a traceback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class UserError(Exception):
    """Bad input: the message is one line naming the problem and the fix."""


class ConfigKeyError(UserError):
    """Bad input about config keys, worded as `parts` with the keys named between them, so that
    the CLI can name a key set by a flag as the flag typed (`--algo`), not as a key the user never
    wrote (`config key 'optimizer.algo'`). `form` words a key named as a key."""

    def __init__(self, parts: Sequence[str], keys: Sequence[str], form: str = "{}",
                 names: Mapping[str, str] | None = None):
        self.parts, self.keys, self.form = tuple(parts), tuple(keys), form
        shown = ", ".join((names or {}).get(key) or form.format(key) for key in self.keys)
        super().__init__(shown.join(self.parts))

    def naming(self, names: Mapping[str, str]) -> ConfigKeyError:
        """The same error with the keys in `names` (dotted key -> flag) named as given there."""
        return ConfigKeyError(self.parts, self.keys, self.form, names)
