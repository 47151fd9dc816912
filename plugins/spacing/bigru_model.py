"""The spacing network (only nn.Modules here)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class SpacingModel(nn.Module):
    """Characters → embeddings → 1-D convolutions of several widths → BiGRU → one logit per
    character: "a space follows this character".

    A character's input is the sum of its own embedding, of its jamo, of the hashed pair it
    forms with the next character (optional) and of the space typed after it.

    The convolutions see the syllables around each position (a particle after a noun, an ending
    after a stem); the BiGRU carries the rest of the sentence. Each Hangul syllable also adds the
    embeddings of its three jamo, so a syllable too rare for the vocabulary still shows its vowel
    and whether it ends in a consonant (은/는, 을/를 follow from that). Each character also gets
    the embedding of whether the input already had a space after it (0 padding, 1 no, 2 yes), so
    the model keeps the right spaces it is given and learns to drop the wrong ones.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 96, conv_channels: int = 96,
                 widths: tuple[int, ...] = (3, 5, 7), hidden: int = 128, layers: int = 1,
                 dropout: float = 0.2, bigram_buckets: int = 0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        # The pair (this character, the next) is what a space goes between: a direct lookup of
        # hashed pairs learns "지가", "에들" faster than convolutions over single characters.
        self.bigram = (nn.Embedding(1 + bigram_buckets, embed_dim, padding_idx=0)
                       if bigram_buckets else None)
        # Id 0: not a Hangul syllable (or no final consonant); 19 initials, 21 vowels, 27 finals.
        self.initial = nn.Embedding(1 + 19, embed_dim, padding_idx=0)
        self.vowel = nn.Embedding(1 + 21, embed_dim, padding_idx=0)
        self.final = nn.Embedding(1 + 27, embed_dim, padding_idx=0)
        self.typed_space = nn.Embedding(3, embed_dim, padding_idx=0)
        # Odd widths with padding width // 2 keep the length; the convolutions' zero padding
        # matches the zero vectors of padding positions, so a batch equals one-by-one.
        self.convs = nn.ModuleList(
            nn.Conv1d(embed_dim, conv_channels, width, padding=width // 2) for width in widths
        )
        encoded = embed_dim + conv_channels * len(widths)
        self.rnn = nn.GRU(encoded, hidden, num_layers=layers, batch_first=True,
                          bidirectional=True, dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, 1)

    def forward(self, chars: torch.Tensor, syllables: torch.Tensor, bigrams: torch.Tensor,
                spaces: torch.Tensor) -> torch.Tensor:
        """Logits of "space after character i"; padding positions give meaningless values.

        Args:
            chars: character ids, 0 for padding, (batch, length).
            syllables: 1 + the index of the Hangul syllable (가 = 1 ... 힣 = 11172), 0 for any
                other character and for padding, (batch, length).
            bigrams: hashed ids of (character i, character i + 1), 0 for padding; ignored
                without ``bigram_buckets``, (batch, length).
            spaces: 1 where the input has no space after the character, 2 where it has one,
                0 for padding, (batch, length).
        """
        length = chars.size(1)
        lengths = (chars != 0).sum(dim=1).clamp(min=1).cpu()  # (batch,)
        index = (syllables - 1).clamp(min=0)  # (batch, length)
        is_syllable = syllables > 0  # (batch, length)
        initial = torch.where(is_syllable, index // 588 + 1, 0)  # 588 = 21 vowels * 28 finals
        vowel = torch.where(is_syllable, index % 588 // 28 + 1, 0)
        final = torch.where(is_syllable, index % 28, 0)  # 0: no final consonant
        states = (self.embed(chars) + self.initial(initial) + self.vowel(vowel)
                  + self.final(final) + self.typed_space(spaces))  # (batch, length, embed)
        if self.bigram is not None:
            states = states + self.bigram(bigrams)  # (batch, length, embed)
        # Dropout on the embeddings rather than on the 4x wider features: on a CPU, dropout
        # costs time per element.
        conv_in = self.dropout(states).transpose(1, 2)  # (batch, embed, length)
        windows = [torch.relu(conv(conv_in)) for conv in self.convs]  # each (batch, ch, length)
        features = torch.cat([conv_in, *windows], dim=1).transpose(1, 2)  # (batch, length, enc)
        # Packed, so the backward direction starts at each sentence's last character, not at
        # the padding after it.
        packed = pack_padded_sequence(features, lengths, batch_first=True, enforce_sorted=False)
        encoded, _ = self.rnn(packed)
        encoded, _ = pad_packed_sequence(encoded, batch_first=True,
                                         total_length=length)  # (batch, length, 2 * hidden)
        return self.out(self.dropout(encoded)).squeeze(-1)  # (batch, length)
