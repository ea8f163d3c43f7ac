"""Translation: sequence-to-sequence with attention (the course's date translator and a Luong
seq2seq for real text), greedy and beam search in the export, BLEU/chrF equal to sacrebleu."""
