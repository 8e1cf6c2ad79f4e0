"""FROZEN BASELINE: the hand-tuned classifier that `classify_task` used before issue 9.

Kept only so `annas-gift eval-classifier` can show the previous classifier beside the learned
one. Nothing outside `routing/evaluate.py` may import it; do not change or re-tune it.
"""
