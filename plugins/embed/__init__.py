"""Built-in embeddings: word vectors learned from the corpus (word2vec) and sentence vectors."""
