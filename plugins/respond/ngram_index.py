"""A TF-IDF index of character n-grams with cosine search, saved as safetensors + JSON.

Character n-grams inside each word (with the word's edges marked) match Korean well: a
question and its paraphrase share stems even when particles, endings or spacing differ.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import torch
from safetensors.torch import save_file

from chatbot.training.safe_load import SavedState

SIZES = (1, 2, 3)


def ngrams(text: str) -> Counter:
    """Counts of the character 1-3-grams of each word, word edges marked with < and >."""
    counts: Counter = Counter()
    for word in text.split():
        padded = f"<{word}>"
        for n in SIZES:
            for start in range(max(1, len(padded) - n + 1)):
                gram = padded[start:start + n]
                if gram not in ("<", ">"):  # every word has these: they say nothing
                    counts[gram] += 1
    return counts


class NgramIndex:
    """Documents as L2-normalised sublinear TF-IDF vectors; queries by cosine similarity."""

    def __init__(self, vocabulary: dict[str, int], idf: torch.Tensor, matrix: torch.Tensor):
        self.vocabulary = vocabulary  # n-gram -> column
        self.idf = idf  # (vocab,)
        self.matrix = matrix  # (docs, vocab), sparse COO

    @classmethod
    def build(cls, texts: list[str]) -> NgramIndex:
        counted = [ngrams(text) for text in texts]
        document_frequency: Counter = Counter()
        for counts in counted:
            document_frequency.update(counts.keys())
        vocabulary = {gram: i for i, gram in enumerate(sorted(document_frequency))}
        total = len(texts)
        idf = torch.tensor([math.log((1 + total) / (1 + document_frequency[gram])) + 1
                            for gram in vocabulary])  # (vocab,)
        index = cls(vocabulary, idf, torch.empty(0))
        index.matrix = index._vectors(counted)
        return index

    def _vectors(self, counted: list[Counter]) -> torch.Tensor:
        """Sparse rows, one per text: (len(counted), vocab)."""
        rows, columns, values = [], [], []
        for document, counts in enumerate(counted):
            row = [(self.vocabulary[g], 1 + math.log(c)) for g, c in counts.items()
                   if g in self.vocabulary]
            weights = [w * float(self.idf[col]) for col, w in row]
            norm = math.sqrt(sum(w * w for w in weights)) or 1.0
            for (column, _), weight in zip(row, weights, strict=True):
                rows.append(document)
                columns.append(column)
                values.append(weight / norm)
        return _sparse(torch.tensor([rows, columns], dtype=torch.int64).reshape(2, -1),
                       torch.tensor(values, dtype=torch.float32),
                       (len(counted), len(self.vocabulary)))

    def similarities(self, queries: list[str]) -> torch.Tensor:
        """Cosine similarity of every query to every document: (queries, docs)."""
        if not queries:
            return torch.zeros(0, self.matrix.shape[0])
        dense = self._vectors([ngrams(q) for q in queries]).to_dense()  # (queries, vocab)
        return torch.sparse.mm(self.matrix, dense.T).T  # (queries, docs)

    def save(self, folder: Path, stem: str) -> None:
        save_file({"idf": self.idf, "indices": self.matrix.indices(),
                   "values": self.matrix.values()}, str(folder / f"{stem}.safetensors"))
        (folder / f"{stem}.json").write_text(
            json.dumps({"ngrams": list(self.vocabulary), "documents": self.matrix.shape[0]},
                       ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, state: SavedState, stem: str, documents: int) -> NgramIndex:
        """Read an index that :meth:`save` wrote into a plugin's saved state.

        Args:
            state: the plugin's saved state.
            stem: the index's file names, without their endings.
            documents: how many texts the plugin saved beside the index: it must have a row
                for each, and no more.
        """
        meta_name, tensors_name = f"{stem}.json", f"{stem}.safetensors"
        meta = state.json_object(meta_name, ("ngrams", "documents"))
        grams = state.strings(f"ngrams in {meta_name}", meta["ngrams"], unique=True)
        state.size(f"documents in {meta_name}", meta["documents"], documents, "the saved texts")
        tensors = state.tensors(tensors_name, {"idf": ("F32", 1), "indices": ("I64", 2),
                                               "values": ("F32", 1)})
        # Values of L2-normalised rows of non-negative weights; idf = log((1 + n) / (1 + df)) + 1.
        idf = state.within(tensors_name, "idf", tensors["idf"], 0.0, 100.0)
        values = state.within(tensors_name, "values", tensors["values"], 0.0, 1.001)
        indices = tensors["indices"]
        state.size(f"the n-grams in {meta_name}", len(grams), idf.shape[0],
                   f"idf in {tensors_name}")
        if indices.shape[0] != 2 or indices.shape[1] != values.shape[0]:
            raise state.error(f"{tensors_name}: indices of shape {list(indices.shape)} do not "
                              f"fit values of shape {list(values.shape)}")
        if indices.numel() and (int(indices.min()) < 0 or int(indices[0].max()) >= documents
                                or int(indices[1].max()) >= len(grams)):
            raise state.error(f"{tensors_name}: indices point outside the {documents} texts "
                              f"and {len(grams)} n-grams")
        vocabulary = {gram: i for i, gram in enumerate(grams)}
        return cls(vocabulary, idf, _sparse(indices, values, (documents, len(grams))))


def _sparse(indices: torch.Tensor, values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    # Checked, because the indices may come from a file: bad ones fail here, not in a matmul.
    return torch.sparse_coo_tensor(indices, values, size, check_invariants=True).coalesce()
