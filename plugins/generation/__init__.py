"""Text generation shared by the generators (respond.seq2seq, fallback.lm): the subword
vocabulary, and decoding (greedy, beam search, top-k / top-p sampling) through one small
interface that the models implement."""
