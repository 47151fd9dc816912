"""Reading a plugin's saved state without trusting it: one policy for every plugin.

A saved model may have been edited, damaged or made by someone else, so nothing it states is
used before it is checked:

- files are read only from the step's own folder (a symbolic link out of it is refused);
- every size it states (in its metadata or in the model's config.yaml) is checked by
  :meth:`SavedState.size` against what the saved tensors or rows really hold, before it sizes a
  network or an array; a network is built on the ``meta`` device first (which allocates
  nothing) and must have exactly the saved tensors' shapes (:meth:`SavedState.weights`);
- every number is finite and in its range (:meth:`SavedState.number`), every tensor finite;
  and a confidence computed from them must still be finite when it reaches a message
  (:func:`finite_confidence`: weights can be finite and still overflow).

Every problem is a :class:`~chatbot.errors.ModelLoadError` naming the step, the file and the
value, so that a damaged model fails at load with a clear message, never later in a chat.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from chatbot.errors import ChatbotError, ModelLoadError, shown
from chatbot.training.history import HISTORY_FILE, History
from chatbot.training.vocab import PAD, UNK, Vocab

# No size a plugin saves comes near this; a bigger one is damage, whatever the tensors say.
MAX_SIZE = 2**31 - 1

if TYPE_CHECKING:
    import torch

# torch and safetensors are imported where a tensor is read: plugins without tensors (the
# stopword list, soyspacing) load without paying for torch.
ModuleT = TypeVar("ModuleT", bound="torch.nn.Module")


class SavedState:
    """One plugin's saved state folder, read with checks.

    Args:
        folder: the folder the plugin's ``save`` wrote.
        plugin: the plugin's name, for the messages.
    """

    def __init__(self, folder: Path, plugin: str) -> None:
        self.folder = Path(folder)
        self.plugin = plugin
        self._headers: dict[str, dict[str, tuple[str, tuple[int, ...]]]] = {}

    def error(self, problem: str) -> ModelLoadError:
        """The error to raise for a problem with this state (it names the step)."""
        return ModelLoadError(str(self.folder),
                              f"the state of {self.plugin} there is corrupt: {problem}")

    # -- files -------------------------------------------------------------------------------

    def file(self, name: str) -> Path:
        """The path of a file of the state; it must exist inside the folder (no link out)."""
        path = self.folder / name
        if not path.is_file():
            raise self.error(f"{name} is missing")
        if not path.resolve().is_relative_to(self.folder.resolve()):
            raise self.error(f"{name} is a link to a file outside the model's folder")
        return path

    def text(self, name: str) -> str:
        """A UTF-8 text file of the state."""
        try:
            return self.file(name).read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise self.error(f"{name} is not UTF-8 text ({error.reason} at byte "
                             f"{error.start})") from None

    def json(self, name: str) -> Any:
        """A JSON file of the state, parsed (its values are checked by the caller)."""
        try:
            return json.loads(self.text(name))
        except (ValueError, RecursionError) as error:  # ValueError: also an int too long
            raise self.error(f"{name} is not valid JSON ({error})") from None

    def json_object(self, name: str, keys: tuple[str, ...]) -> dict[str, Any]:
        """A JSON file holding an object with (at least) these keys."""
        data = self.json(name)
        if not isinstance(data, dict):
            raise self.error(f"{name} holds {type(data).__name__}, not a JSON object")
        missing = [key for key in keys if key not in data]
        if missing:
            raise self.error(f"{name} lacks the key(s) {', '.join(missing)}")
        return data

    # -- values ------------------------------------------------------------------------------

    def size(self, what: str, value: Any, expected: int | None = None, source: str = "",
             minimum: int = 0, maximum: int = MAX_SIZE) -> int:
        """The one check of a size a saved model states, before it sizes anything.

        Args:
            what: the value and where it is read, e.g. ``"hidden in config.yaml"``.
            value: the value as read (any JSON or YAML value).
            expected: what the saved data really hold (a tensor's dimension, a row count);
                None when nothing is saved to compare with.
            source: where ``expected`` comes from, e.g. ``"model.safetensors"``.
            minimum: the least valid value.
            maximum: the greatest valid value, for a size that no saved data bounds.

        Returns:
            The value, a whole number from ``minimum`` to ``maximum``.
        """
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{what} is {shown(value)}, not a whole number")
        given = f"{value:,}" if abs(value) < 10**30 else shown(value)
        if expected is not None and value != expected:
            raise self.error(f"{what} is {given}, but {source} holds {expected:,}")
        if not minimum <= value <= min(maximum, MAX_SIZE):
            raise self.error(f"{what} is {given}; it must be from {minimum:,} to "
                             f"{min(maximum, MAX_SIZE):,}")
        return value

    def number(self, what: str, value: Any, low: float, high: float) -> float:
        """A finite number from ``low`` to ``high`` (both included)."""
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or not low <= value <= high):
            raise self.error(f"{what} is {shown(value)}; it must be a finite number from "
                             f"{low} to {high}")
        return float(value)

    def strings(self, what: str, value: Any, unique: bool = False, minimum: int = 0
                ) -> list[str]:
        """A list of strings (without repeats when ``unique``), at least ``minimum`` long."""
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.error(f"{what} is not a list of strings")
        if unique and len(set(value)) != len(value):
            raise self.error(f"{what} lists a string twice")
        if len(value) < minimum:
            raise self.error(f"{what} has {len(value)} entries; it needs at least {minimum}")
        return value

    def string_lists(self, what: str, value: Any, count: int, source: str) -> list[list[str]]:
        """A list of ``count`` non-empty lists of strings (one for each of ``source``, what
        the saved data hold ``count`` of: "its questions")."""
        if not isinstance(value, list) or not all(
                isinstance(group, list) and group and all(isinstance(s, str) for s in group)
                for group in value):
            raise self.error(f"{what} is not a list of non-empty lists of strings")
        self.size(f"the lists of {what}", len(value), count, source)
        return value

    def optional_strings(self, what: str, value: Any, count: int, source: str
                         ) -> list[str | None]:
        """A list of ``count`` strings or nulls (one for each of ``source``); all nulls when
        the value is missing (``None``), as in a model saved before it was written."""
        if value is None:
            return [None] * count
        if not isinstance(value, list) or not all(
                item is None or isinstance(item, str) for item in value):
            raise self.error(f"{what} is not a list of strings and nulls")
        self.size(f"the {what}", len(value), count, source)
        return value

    def vocab(self, what: str, value: Any) -> Vocab:
        """A saved :class:`Vocab`: strings, padding and unknown first, each once."""
        tokens = self.strings(what, value, unique=True)
        if tokens[:2] != [PAD, UNK]:
            raise self.error(f"{what} does not start with {PAD}, {UNK}")
        return Vocab(tokens)

    def history(self, subfolder: str = "") -> History | None:
        """The training history saved beside the model (None when there is none)."""
        name = f"{subfolder}/{HISTORY_FILE}" if subfolder else HISTORY_FILE
        if not (self.folder / name).exists():
            return None
        data = self.json(name)
        epochs = data.get("epochs", []) if isinstance(data, dict) else None
        if not isinstance(epochs, list) or not all(
                isinstance(row, dict) and all(_is_number(v) for v in row.values())
                for row in epochs):
            raise self.error(f"{name} is not a training history (epochs of numbers)")
        kinds = {"monitor": str, "best_epoch": int, "stopped_early": bool, "seconds": float,
                 "examples_per_second": float}
        for key, kind in kinds.items():
            value = data.get(key)
            if value is not None and not (_is_number(value) if kind is float
                                          else isinstance(value, kind)):
                raise self.error(f"{name}: {key} is {shown(value)}")
        return History.from_dict(data)

    # -- tensors -----------------------------------------------------------------------------

    def header(self, name: str) -> dict[str, tuple[str, tuple[int, ...]]]:
        """Each tensor's dtype (``"F32"``, ``"I64"``...) and shape, read from the header of a
        safetensors file without loading any tensor."""
        if name not in self._headers:
            path = self.file(name)
            try:
                from safetensors import safe_open

                with safe_open(str(path), framework="pt", device="cpu") as handle:
                    self._headers[name] = {
                        key: (handle.get_slice(key).get_dtype(),
                              tuple(handle.get_slice(key).get_shape()))
                        for key in handle.keys()
                    }
            except Exception as error:  # safetensors raises its own error types
                raise self.error(f"{name} is not a safetensors file ({error})") from None
        return self._headers[name]

    def shape(self, name: str, key: str, dims: int) -> tuple[int, ...]:
        """The shape of one tensor of a safetensors file, which must have ``dims``
        dimensions, read from the header (nothing is loaded)."""
        header = self.header(name)
        if key not in header:
            raise self.error(f"{name} lacks the tensor {key}")
        shape = header[key][1]
        if len(shape) != dims:
            raise self.error(f"{name}: {key} has shape {list(shape)}, not {dims} dimension(s)")
        return shape

    def tensors(self, name: str, expected: dict[str, tuple[str, int]]) -> dict[str, torch.Tensor]:
        """The tensors of a safetensors file, which must hold exactly the names of
        ``expected`` (name → (dtype, number of dimensions)); floating ones must be finite.

        Their sizes are the file's own (it holds the data); the caller checks them against
        each other and against the metadata.
        """
        header = self.header(name)
        if set(header) != set(expected):
            raise self.error(f"{name} holds the tensors {sorted(header)}, not "
                             f"{sorted(expected)}")
        for key, (dtype, dims) in expected.items():
            if header[key][0] != dtype or len(header[key][1]) != dims:
                raise self.error(f"{name}: {key} is {header[key][0]} of shape "
                                 f"{list(header[key][1])}; expected {dtype} with {dims} "
                                 "dimension(s)")
        from safetensors.torch import load_file

        loaded = load_file(str(self.file(name)))
        for key, tensor in loaded.items():
            self._check_finite(name, key, tensor)
        return loaded

    def weights(self, name: str, build: Callable[[], ModuleT]) -> ModuleT:
        """A network built by ``build`` with the weights of a safetensors file, in eval mode.

        ``build`` runs first on the ``meta`` device, which allocates nothing: the network the
        settings describe must have exactly the saved tensors' names and shapes before it is
        built for real. Check the sizes a plugin's settings name with :meth:`size` before
        calling this, so that a mismatch names the setting.
        """
        import torch
        from safetensors.torch import load_model

        saved = {key: shape for key, (_, shape) in self.header(name).items()}
        with torch.device("meta"):
            planned = build()
        aliases: dict[int, list[str]] = {}  # tied weights are saved once, under one name
        shapes: dict[str, tuple[int, ...]] = {}
        for key, tensor in planned.state_dict(keep_vars=True).items():
            aliases.setdefault(id(tensor), []).append(key)
            shapes[key] = tuple(tensor.shape)
        for names in aliases.values():
            present = [key for key in names if key in saved]
            if not present:
                raise self.error(f"{name} lacks the weights {names[0]}")
            for key in present:
                if saved[key] != shapes[key]:
                    raise self.error(
                        f"{name}: {key} has shape {list(saved[key])}, but the settings build "
                        f"{list(shapes[key])}")
        extra = sorted(set(saved) - set(shapes))
        if extra:
            raise self.error(f"{name} holds weights the settings do not build: "
                             f"{', '.join(extra[:5])}")
        module = build()
        try:
            load_model(module, str(self.file(name)), strict=True, device="cpu")
        except Exception as error:  # checked above; a damaged body can still fail here
            raise self.error(f"{name} cannot be read ({error})") from None
        for key, tensor in module.state_dict().items():
            self._check_finite(name, key, tensor)
        return module.eval()

    def within(self, name: str, key: str, tensor: torch.Tensor, low: float, high: float
               ) -> torch.Tensor:
        """A loaded tensor whose values must lie from ``low`` to ``high`` (what the data
        they are computed from allow: unit vectors, weights of a normalised row...)."""
        if tensor.numel() and not (low <= float(tensor.min()) and float(tensor.max()) <= high):
            raise self.error(f"{name}: {key} holds values outside [{low}, {high}]")
        return tensor

    def _check_finite(self, name: str, key: str, tensor: torch.Tensor) -> None:
        import torch

        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise self.error(f"{name}: {key} holds NaN or infinite values")


def finite_confidence(plugin: str, value: float) -> float:
    """A confidence a plugin is about to write into a message; NaN or infinity (from weights
    that overflow) would reach the trace and its JSON, so they are an error here.

    Raises:
        ChatbotError: the value is not a finite number.
    """
    if not math.isfinite(value):
        raise ChatbotError(
            f"{plugin} computed a confidence of {value}: its saved weights overflow",
            hint="retrain the model with `chatbot train CONFIG --out DIR`",
        )
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

