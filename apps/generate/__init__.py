"""Generation: character-level language models (names, folk tunes in ABC) and a note-level model
of Bach chorale sopranos, with sampling in the graph (task.py)."""
