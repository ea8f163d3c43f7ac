"""Style transfer: Gatys et al.'s optimisation (`classics style run`) and a fast feed-forward
stylizer (Johnson et al.) trained, evaluated and exported through the app contract (task.py)."""
