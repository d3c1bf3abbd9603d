class WordPieceTokenizer: pass
