"""The word2vec networks (only nn.Modules here): skip-gram and CBOW with negative sampling."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def negative_sampling_loss(scores: torch.Tensor) -> torch.Tensor:
    """Per-example loss from :meth:`Word2VecModel.scores`: -log σ(true) - Σ log σ(-noise)."""
    positive = F.logsigmoid(scores[:, 0])  # (batch,)
    negative = F.logsigmoid(-scores[:, 1:]).sum(dim=1)  # (batch,)
    return -(positive + negative)  # (batch,)


class Word2VecModel(nn.Module):
    """Input and output embeddings scored by dot product; the loss is negative sampling.

    A subclass decides, in :meth:`query`, which vector predicts and which word it must predict.
    Every batch holds ``center`` ids, ``context`` ids and ``negatives`` (noise word ids drawn
    from the unigram^0.75 distribution); the loss asks the true target to score high and every
    noise word to score low (Mikolov et al., 2013).

    Id 0 is padding: its input vector stays zero, so padded context slots add nothing.
    """

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.input = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.output = nn.Embedding(vocab_size, dim, padding_idx=0)
        # word2vec's initialisation: small random input vectors and zero output vectors, so every
        # score starts at 0 (probability 0.5) and no pair is favoured before training.
        nn.init.uniform_(self.input.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.output.weight)
        with torch.no_grad():
            self.input.weight[0].zero_()

    def query(
        self, center: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The predicting vectors (batch, dim) and the ids they must predict (batch,)."""
        raise NotImplementedError

    def scores(
        self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """Dot-product scores: column 0 for the true target, then one per noise word."""
        query, target = self.query(center, context)  # (batch, dim), (batch,)
        candidates = torch.cat([target.unsqueeze(1), negatives], dim=1)  # (batch, 1 + k)
        vectors = self.output(candidates)  # (batch, 1 + k, dim)
        return torch.bmm(vectors, query.unsqueeze(2)).squeeze(2)  # (batch, 1 + k)

    def forward(
        self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """The mean negative-sampling loss of the batch (a scalar)."""
        return negative_sampling_loss(self.scores(center, context, negatives)).mean()


class SkipGram(Word2VecModel):
    """Skip-gram: the center word predicts one context word (``context`` is (batch,)).

    Better than CBOW for rare words, which matters on small chat corpora.
    """

    def query(
        self, center: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.input(center), context  # (batch, dim), (batch,)


class CBOW(Word2VecModel):
    """Continuous bag of words: the mean of the context words predicts the center word.

    ``context`` is (batch, 2 * window), padded with 0. Faster per word than skip-gram.
    """

    def query(
        self, center: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        present = (context != 0).sum(dim=1, keepdim=True).clamp(min=1)  # (batch, 1)
        summed = self.input(context).sum(dim=1)  # (batch, dim); padding rows are zero
        return summed / present, center  # (batch, dim), (batch,)


ARCHITECTURES: dict[str, type[Word2VecModel]] = {"skipgram": SkipGram, "cbow": CBOW}
