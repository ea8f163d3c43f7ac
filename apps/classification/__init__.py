"""Image classification: ResNet and Inception backbones from `layers/` blocks (apps/classification/task.py)."""
