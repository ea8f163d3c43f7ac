"""Object detection: a YOLO-style S x S grid with B anchors, per-class NMS in the graph (task.py)."""
