"""spacing.soyspacing: count-based spacing correction learned from well-spaced text."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from chatbot.errors import NotFittedError
from chatbot.message import Message
from chatbot.plugin import Package, Plugin, PluginConfig, TrainContext
from chatbot.training.safe_load import SavedState

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

MODEL_FILE = "soyspacing.json"
# Fit trains with CountSpace's windows of 3 to 7 characters; a saved model's are bounded.
MAX_WINDOW = 20


class SoySpacingConfig(PluginConfig):
    min_count: int = Field(
        3, ge=1, description="a character window must be seen this often to decide a space"
    )
    space_threshold: float = Field(0.3, description="score above which a space is inserted")
    nonspace_threshold: float = Field(-0.3, description="score below which a space is removed")


class SoySpacing(Plugin):
    """Spacing learned by soyspacing's CountSpace from well-spaced sentences of the corpus.

    It trains on the corpus's plain sentences and dialog answers (written with correct spacing),
    not on the users' questions. Count-based: it needs a large corpus to correct much.
    """

    name = "spacing.soyspacing"
    Config = SoySpacingConfig
    assigns = ("spaced",)
    packages = (Package("soyspacing", "soyspacing"),)
    trainable = True

    def __init__(self, config: SoySpacingConfig, model: Any = None) -> None:
        super().__init__(config)
        self.model = model

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        from soyspacing.countbase import CountSpace

        well_spaced = corpus.sentences + [e.answer for e in corpus.examples if e.answer]
        lines = [s for m in context.upstream(well_spaced) for s in m.current_sentences]
        model = CountSpace()
        # CountSpace trains from a file path only.
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "sentences.txt"
            path.write_text("\n".join(lines), encoding="utf-8")
            with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
                model.train(str(path))
        self.model = model

    def process(self, messages: list[Message]) -> list[Message]:
        if self.model is None:
            raise NotFittedError(self.name)
        for message in messages:
            message.spaced = " ".join(self._correct(s) for s in message.current_sentences)
        return messages

    def _correct(self, sentence: str) -> str:
        corrected, _tags = self.model.correct(
            sentence,
            min_count=self.config.min_count,
            space_threshold=self.config.space_threshold,
            nonspace_threshold=self.config.nonspace_threshold,
        )
        return corrected

    def save(self, path: Path) -> None:
        if self.model is None:
            raise NotFittedError(self.name)
        self.model.save_model(str(path / MODEL_FILE), json_format=True)

    @classmethod
    def load(cls, path: Path, config: SoySpacingConfig) -> Self:
        from soyspacing.countbase import CountSpace

        state = SavedState(path, cls.name)
        data = state.json_object(MODEL_FILE, ("parameters", "counters"))
        parameters, counters = data["parameters"], data["counters"]
        if not isinstance(parameters, dict):
            raise state.error(f"parameters in {MODEL_FILE} is not an object")
        # Each character of a message costs max_window² look-ups: the window is bounded.
        low = state.size(f"min_window in {MODEL_FILE}", parameters.get("min_window"),
                         minimum=1, maximum=MAX_WINDOW)
        state.size(f"max_window in {MODEL_FILE}", parameters.get("max_window"), minimum=low,
                   maximum=MAX_WINDOW)
        state.size(f"min_count in {MODEL_FILE}", parameters.get("min_count"))
        state.size(f"filtering_document_min_count in {MODEL_FILE}",
                   parameters.get("filtering_document_min_count", 0))
        if not isinstance(counters, dict) or not all(
                isinstance(tags, dict) and all(
                    len(tag) == len(chars) and set(tag) <= {"0", "1"}
                    and isinstance(frequency, int) and frequency >= 0
                    for tag, frequency in tags.items())
                for chars, tags in counters.items()):
            raise state.error(f"counters in {MODEL_FILE} are not character windows with a "
                              "count for each of their space tags (0 and 1, one per character)")
        model = CountSpace()
        model.load_model(str(state.file(MODEL_FILE)), json_format=True)
        return cls(config, model)
