"""Sentiment of raw text: TextVectorization + bidirectional RNN over our GRU/LSTM cells (task.py)."""
